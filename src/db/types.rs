//! Typed columns: the domain's closed code sets stored as text. Reading a code this build does
//! not know is an error (never silently a default); writing stores the code.

use diesel::deserialize::{self, FromSql, Queryable};
use diesel::dsl::AsExprOf;
use diesel::expression::AsExpression;
use diesel::pg::{Pg, PgValue};
use diesel::serialize::{self, Output, ToSql};
use diesel::sql_types::{Nullable, Text};

use crate::domain::aid::{
    AidRecordForm, EntryKind, FundStatus, PairingStatus, ServiceType, VisitKind,
};
use crate::domain::consent::{ConsentMethod, DataCategory, GivenBy, Purpose};
use crate::domain::disclosure::DisclosureKind;
use crate::domain::lead::{LeadOutcome, LeadStatus};
use crate::domain::need::{NeedCategory, NeedSource, NeedStatus, Urgency};
use crate::domain::organization::{OrganizationKind, OrganizationStatus};
use crate::domain::person::{Circumstance, Programme, Tier};
use crate::domain::project::{AidForm, ProjectStatus};
use crate::domain::referral::{DeclineReason, LegalBasis, ReferralStatus};
use crate::domain::resident_id::Sex;
use crate::domain::role::Role;
use crate::domain::webhook::DeliveryStatus;

macro_rules! text_column {
    ($($ty:ty),+ $(,)?) => {$(
        impl FromSql<Text, Pg> for $ty {
            fn from_sql(bytes: PgValue<'_>) -> deserialize::Result<Self> {
                let code = <String as FromSql<Text, Pg>>::from_sql(bytes)?;
                code.parse().map_err(|_| {
                    format!("unknown {} code {code:?} in the database", stringify!($ty)).into()
                })
            }
        }

        impl ToSql<Text, Pg> for $ty {
            fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Pg>) -> serialize::Result {
                <str as ToSql<Text, Pg>>::to_sql(self.as_str(), out)
            }
        }

        impl Queryable<Text, Pg> for $ty {
            type Row = Self;
            fn build(row: Self) -> deserialize::Result<Self> {
                Ok(row)
            }
        }

        impl AsExpression<Text> for $ty {
            type Expression = AsExprOf<&'static str, Text>;
            fn as_expression(self) -> Self::Expression {
                <&'static str as AsExpression<Text>>::as_expression(self.as_str())
            }
        }

        impl AsExpression<Text> for &$ty {
            type Expression = AsExprOf<&'static str, Text>;
            fn as_expression(self) -> Self::Expression {
                <&'static str as AsExpression<Text>>::as_expression(self.as_str())
            }
        }

        impl AsExpression<Nullable<Text>> for $ty {
            type Expression = AsExprOf<&'static str, Nullable<Text>>;
            fn as_expression(self) -> Self::Expression {
                <&'static str as AsExpression<Nullable<Text>>>::as_expression(self.as_str())
            }
        }

        impl AsExpression<Nullable<Text>> for &$ty {
            type Expression = AsExprOf<&'static str, Nullable<Text>>;
            fn as_expression(self) -> Self::Expression {
                <&'static str as AsExpression<Nullable<Text>>>::as_expression(self.as_str())
            }
        }
    )+};
}

text_column!(
    Tier,
    Circumstance,
    Programme,
    Sex,
    NeedCategory,
    NeedSource,
    NeedStatus,
    Urgency,
    Purpose,
    DataCategory,
    ConsentMethod,
    GivenBy,
    OrganizationKind,
    OrganizationStatus,
    Role,
    AidForm,
    ProjectStatus,
    AidRecordForm,
    ServiceType,
    EntryKind,
    FundStatus,
    DisclosureKind,
    PairingStatus,
    VisitKind,
    ReferralStatus,
    LegalBasis,
    DeclineReason,
    LeadStatus,
    LeadOutcome,
    DeliveryStatus,
);
