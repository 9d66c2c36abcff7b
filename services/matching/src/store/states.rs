//! The domain's states and statuses as PostgreSQL `text` (the tables keep them as text with a
//! CHECK constraint): written with `as_str`, read with `parse`, so that a text no state spells
//! fails the read (a decode error) instead of turning into some state.

use sqlx::encode::IsNull;
use sqlx::error::BoxDynError;
use sqlx::postgres::{PgArgumentBuffer, PgHasArrayType, PgTypeInfo, PgValueRef};
use sqlx::{Decode, Encode, Postgres, Type};

use crate::domain::{IncidentStatus, MatchState, TaskStatus, VolunteerStatus};

macro_rules! stored_as_text {
    ($($ty:ty),* $(,)?) => {$(
        impl Type<Postgres> for $ty {
            fn type_info() -> PgTypeInfo {
                <&str as Type<Postgres>>::type_info()
            }

            fn compatible(ty: &PgTypeInfo) -> bool {
                <&str as Type<Postgres>>::compatible(ty)
            }
        }

        impl PgHasArrayType for $ty {
            fn array_type_info() -> PgTypeInfo {
                <&str as PgHasArrayType>::array_type_info()
            }
        }

        impl Encode<'_, Postgres> for $ty {
            fn encode_by_ref(&self, buf: &mut PgArgumentBuffer) -> Result<IsNull, BoxDynError> {
                <&str as Encode<Postgres>>::encode(self.as_str(), buf)
            }
        }

        impl<'r> Decode<'r, Postgres> for $ty {
            fn decode(value: PgValueRef<'r>) -> Result<Self, BoxDynError> {
                Ok(<$ty>::parse(<&str as Decode<Postgres>>::decode(value)?)?)
            }
        }
    )*};
}

stored_as_text!(MatchState, VolunteerStatus, TaskStatus, IncidentStatus);
