//! Domain enums stored as TEXT, decoded straight from rows on both backends: a stored value that
//! is not one of them is a decoding error of the row (never a silent default), and no code
//! re-parses strings it read.

use sqlx::error::BoxDynError;
use sqlx::postgres::{PgTypeInfo, PgValueRef, Postgres};
use sqlx::sqlite::{Sqlite, SqliteTypeInfo, SqliteValueRef};
use sqlx::{Decode, Type};

use crate::domain::connection::ProfileStatus;
use crate::domain::platform::Platform;
use crate::domain::post::{MediaStatus, PostStatus, ResultState};

/// `Type` and `Decode` on both backends for an enum stored as its wire text, read with `$parse`.
macro_rules! text_enum {
    ($ty:ty, $parse:path, $what:literal) => {
        impl Type<Sqlite> for $ty {
            fn type_info() -> SqliteTypeInfo {
                <&str as Type<Sqlite>>::type_info()
            }
            fn compatible(ty: &SqliteTypeInfo) -> bool {
                <&str as Type<Sqlite>>::compatible(ty)
            }
        }
        impl Type<Postgres> for $ty {
            fn type_info() -> PgTypeInfo {
                <&str as Type<Postgres>>::type_info()
            }
            fn compatible(ty: &PgTypeInfo) -> bool {
                <&str as Type<Postgres>>::compatible(ty)
            }
        }
        impl<'r> Decode<'r, Sqlite> for $ty {
            fn decode(value: SqliteValueRef<'r>) -> Result<Self, BoxDynError> {
                let s = <&str as Decode<Sqlite>>::decode(value)?;
                $parse(s).ok_or_else(|| format!(concat!("unknown ", $what, " {:?} in the database"), s).into())
            }
        }
        impl<'r> Decode<'r, Postgres> for $ty {
            fn decode(value: PgValueRef<'r>) -> Result<Self, BoxDynError> {
                let s = <&str as Decode<Postgres>>::decode(value)?;
                $parse(s).ok_or_else(|| format!(concat!("unknown ", $what, " {:?} in the database"), s).into())
            }
        }
    };
}

text_enum!(Platform, Platform::parse, "platform");
text_enum!(PostStatus, PostStatus::parse, "post status");
text_enum!(ResultState, ResultState::parse, "result status");
text_enum!(MediaStatus, MediaStatus::parse, "media status");
text_enum!(ProfileStatus, ProfileStatus::parse, "profile status");
