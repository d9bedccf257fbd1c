//! Pure domain rules: validators, newtypes, state machines and role checks. No actix, no diesel, no I/O.

/// A closed set of snake_case codes stored as text: the enum, its codes, parsing and schema.
macro_rules! text_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident = $code:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord,
                 serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
        #[serde(rename_all = "snake_case")]
        pub enum $name { $($(#[$vmeta])* $variant),+ }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $code),+ }
            }
        }

        impl std::str::FromStr for $name {
            type Err = ();
            fn from_str(s: &str) -> Result<Self, ()> {
                match s { $($code => Ok($name::$variant),)+ _ => Err(()) }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

pub mod aid;
pub mod consent;
pub mod disclosure;
pub mod free_text;
pub mod lead;
pub mod ledger;
pub mod need;
pub mod organization;
pub mod person;
pub mod phone;
pub mod project;
pub mod referral;
pub mod region;
pub mod resident_id;
pub mod role;
pub mod time;
pub mod uscc;
pub mod webhook;
