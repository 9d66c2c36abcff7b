//! The states that more than one service keeps: an incident's and a task's status (the task
//! service owns them; matching keeps a copy from its events), with [`UnknownState`] for a
//! text none of them spells, and [`stored_as_text!`](crate::stored_as_text) for keeping a
//! state in a PostgreSQL `text` column.

/// A state or status text that none of a service's states spells: read from the database or
/// an event, it is an error, never the nearest state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownState {
    /// What was parsed: `match state`, `task status`, ...
    pub kind: &'static str,
    pub text: String,
}

impl UnknownState {
    pub fn new(kind: &'static str, text: &str) -> Self {
        Self {
            kind,
            text: text.to_owned(),
        }
    }
}

impl std::fmt::Display for UnknownState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "unknown {} {:?}", self.kind, self.text)
    }
}

impl std::error::Error for UnknownState {}

/// Implements sqlx's `Type`, `Encode` and `Decode` for PostgreSQL `text` on enums with
/// `as_str(self) -> &'static str` and `parse(&str) -> Result<Self, UnknownState>`: written
/// with `as_str`, read with `parse`, so that a text no state spells fails the read (a decode
/// error) instead of turning into some state. The tables keep states as text with a CHECK
/// constraint.
#[macro_export]
macro_rules! stored_as_text {
    ($($ty:ty),* $(,)?) => {$(
        impl ::sqlx::Type<::sqlx::Postgres> for $ty {
            fn type_info() -> ::sqlx::postgres::PgTypeInfo {
                <&str as ::sqlx::Type<::sqlx::Postgres>>::type_info()
            }

            fn compatible(ty: &::sqlx::postgres::PgTypeInfo) -> bool {
                <&str as ::sqlx::Type<::sqlx::Postgres>>::compatible(ty)
            }
        }

        impl ::sqlx::postgres::PgHasArrayType for $ty {
            fn array_type_info() -> ::sqlx::postgres::PgTypeInfo {
                <&str as ::sqlx::postgres::PgHasArrayType>::array_type_info()
            }
        }

        impl ::sqlx::Encode<'_, ::sqlx::Postgres> for $ty {
            fn encode_by_ref(
                &self,
                buf: &mut ::sqlx::postgres::PgArgumentBuffer,
            ) -> Result<::sqlx::encode::IsNull, ::sqlx::error::BoxDynError> {
                <&str as ::sqlx::Encode<::sqlx::Postgres>>::encode(self.as_str(), buf)
            }
        }

        impl<'r> ::sqlx::Decode<'r, ::sqlx::Postgres> for $ty {
            fn decode(
                value: ::sqlx::postgres::PgValueRef<'r>,
            ) -> Result<Self, ::sqlx::error::BoxDynError> {
                Ok(<$ty>::parse(<&str as ::sqlx::Decode<::sqlx::Postgres>>::decode(value)?)?)
            }
        }
    )*};
}

/// Where an incident stands: open, or closed (no new tasks, no more offers).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IncidentStatus {
    Open,
    Closed,
}

impl IncidentStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Open => "open",
            Self::Closed => "closed",
        }
    }

    pub fn parse(text: &str) -> Result<Self, UnknownState> {
        match text {
            "open" => Ok(Self::Open),
            "closed" => Ok(Self::Closed),
            _ => Err(UnknownState::new("incident status", text)),
        }
    }
}

/// Where a task stands: `open → staffed → in_progress → completed`, or `cancelled`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TaskStatus {
    Open,
    Staffed,
    InProgress,
    Completed,
    Cancelled,
}

impl TaskStatus {
    pub const ALL: [Self; 5] = [
        Self::Open,
        Self::Staffed,
        Self::InProgress,
        Self::Completed,
        Self::Cancelled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Open => "open",
            Self::Staffed => "staffed",
            Self::InProgress => "in_progress",
            Self::Completed => "completed",
            Self::Cancelled => "cancelled",
        }
    }

    pub fn parse(text: &str) -> Result<Self, UnknownState> {
        Self::ALL
            .into_iter()
            .find(|status| status.as_str() == text)
            .ok_or_else(|| UnknownState::new("task status", text))
    }

    /// Completed and cancelled tasks change no more.
    pub fn is_final(self) -> bool {
        matches!(self, Self::Completed | Self::Cancelled)
    }

    /// Not started yet: closing the incident cancels these, and they may still receive
    /// offers.
    pub fn is_not_started(self) -> bool {
        matches!(self, Self::Open | Self::Staffed)
    }
}

crate::stored_as_text!(IncidentStatus, TaskStatus);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_parse_what_they_print_and_nothing_else() {
        for status in TaskStatus::ALL {
            assert_eq!(TaskStatus::parse(status.as_str()), Ok(status));
        }
        for status in [IncidentStatus::Open, IncidentStatus::Closed] {
            assert_eq!(IncidentStatus::parse(status.as_str()), Ok(status));
        }
        assert!(TaskStatus::parse("Open").is_err());
        assert!(IncidentStatus::parse("archived").is_err());
        assert_eq!(
            TaskStatus::parse("paused").map_err(|e| e.to_string()),
            Err("unknown task status \"paused\"".to_owned())
        );
    }
}
