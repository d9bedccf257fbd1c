//! The authenticated caller (who, for which organisation, with which roles and region, from
//! where) as a plain value; the HTTP extractor that builds it lives in `api::extract`.

use uuid::Uuid;

use crate::domain::region;
use crate::domain::role::{has_any, Role};
use crate::service::{Error, RequestMeta};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PrincipalKind {
    User,
    Client,
}

impl PrincipalKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::User => "user",
            Self::Client => "client",
        }
    }
}

/// Who is calling: a user or an API client acting for an organisation.
#[derive(Debug, Clone)]
pub struct Caller {
    pub id: Uuid,
    pub kind: PrincipalKind,
    pub organization_id: Uuid,
    pub roles: Vec<Role>,
    /// The region scope, parsed and normalised (`230100` is `2301`).
    pub region: region::RegionCode,
    /// Where the request came from, for the audit trail.
    pub meta: RequestMeta,
}

impl Caller {
    /// 403 unless the caller holds one of `roles`.
    pub fn require_any(&self, roles: &[Role]) -> Result<(), Error> {
        if has_any(&self.roles, roles) {
            Ok(())
        } else {
            let names: Vec<_> = roles.iter().map(|r| r.as_str()).collect();
            Err(Error::forbidden(format!(
                "this needs one of the roles: {}",
                names.join(", ")
            )))
        }
    }

    pub fn has(&self, role: Role) -> bool {
        self.roles.contains(&role)
    }

    /// Whether the caller's region scope includes `code`.
    pub fn covers_region(&self, code: &str) -> bool {
        self.region.covers(code)
    }
}
