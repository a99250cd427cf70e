//! Who is calling and what their API key may do.

/// What an API key can reach.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Every profile group of the account; may create and delete groups.
    Full,
    /// Exactly one profile group (its database id).
    Group(i64),
}

/// The authenticated caller of a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Caller {
    pub account_id: i64,
    pub api_key_id: i64,
    pub scope: Scope,
}

impl Caller {
    /// The single group this key is limited to, if any (`None` = every group of the account).
    pub fn group_filter(&self) -> Option<i64> {
        match self.scope {
            Scope::Full => None,
            Scope::Group(id) => Some(id),
        }
    }

    /// Creating and deleting profile groups needs a full-access key.
    pub fn can_manage_groups(&self) -> bool {
        self.scope == Scope::Full
    }
}
