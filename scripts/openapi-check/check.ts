// Compiled (tsc --noEmit --strict) by scripts/check-openapi next to `openapi.d.ts`, the types
// openapi-typescript generates from openapi/openapi.json with its default options: bodies the
// server really sends must be assignable to the documented schemas, and wrong ones must not be.
import type { components } from "./openapi";

type Schemas = components["schemas"];
type Problem = Schemas["Problem"];

// 422 with the invalid fields (application/problem+json).
export const validationProblem: Problem = {
  type: "urn:aidbridge:problem:validation_failed",
  title: "Unprocessable Entity",
  status: 422,
  detail: "1 field is invalid",
  code: "validation_failed",
  errors: [
    {
      field: "uscc",
      code: "check_character",
      message: "the check character is wrong (expected E)",
    },
  ],
};

// `errors` is left out when empty.
export const notFound: Problem = {
  type: "urn:aidbridge:problem:not_found",
  title: "Not Found",
  status: 404,
  detail: "organization not found",
  code: "not_found",
};

// Some problems carry further members (RFC 9457 §3.2 extension members), e.g. on a duplicate.
export const duplicate: Problem = {
  type: "urn:aidbridge:problem:duplicate_person",
  title: "Conflict",
  status: 409,
  detail: "a person with this ID number is already registered",
  code: "duplicate_person",
  existing_id: "01a2275d-411a-730a-adfd-17a4b2a5552c",
};

// Reading a problem the way a client does.
export function describe(p: Problem): string {
  const fields = (p.errors ?? []).map((e) => `${e.field}: ${e.code}`).join(", ");
  return `${p.status} ${p.code}: ${p.detail}${fields ? ` (${fields})` : ""}`;
}

// The generated types must be real types, not `any`/`unknown`: these must be rejected.
// @ts-expect-error `code` is required
export const missingCode: Problem = { type: "about:blank", title: "Not Found", status: 404, detail: "gone" };
// @ts-expect-error `status` is a number
export const textStatus: Problem = { type: "about:blank", title: "Not Found", status: "404", detail: "gone", code: "not_found" };

// Pages: the items are the named schemas.
const event: Schemas["AuditEvent"] = {
  seq: 42,
  id: "01a2275d-4112-71d2-b94c-4b961e228452",
  occurred_at: "2024-01-23T08:00:00Z",
  actor_kind: "user",
  actor_id: "01a2275d-411a-730a-adfd-17a4b2a5552c",
  actor_organization_id: "01a2275d-4112-71d2-b94c-4b961e228452",
  action: "organization.create",
  entity_type: "organization",
  entity_id: "01a2275d-4113-7c3e-8a4f-0f6b6c1d2e3f",
  ip: "127.0.0.1",
  request_id: "c9a37b25-3250-4533-9151-3174799cc5ba",
  reason: null,
  details: { kind: "charity", region_code: "230102", seed: false },
};

export const auditPage: Schemas["Page_AuditEvent"] = { items: [event], next_cursor: "MjAyNC0wMS0yMw" };

const organization: Schemas["Organization"] = {
  id: "01a2275d-4112-71d2-b94c-4b961e228452",
  kind: "civil_affairs_bureau",
  name: "哈尔滨市民政局",
  region_code: "230100",
  status: "active",
  public_fundraising: false,
  parent_id: null,
  uscc: null,
  created_at: "2024-01-23T08:00:00Z",
  updated_at: "2024-01-23T08:00:00Z",
};

export const organizationPage: Schemas["Page_Organization"] = { items: [organization], next_cursor: null };

// @ts-expect-error `items` is required
export const pageWithoutItems: Schemas["Page_Organization"] = { next_cursor: null };
