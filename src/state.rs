//! What every request handler can reach.

use std::sync::Arc;

use crate::db::Db;
use crate::error::ApiError;
use crate::ids::{Ids, Kind};

#[derive(Clone)]
pub struct AppState {
    pub db: Db,
    pub ids: Arc<Ids>,
    /// Base of the URLs the server hands out, without a trailing slash.
    pub public_url: Arc<str>,
}

impl AppState {
    pub fn new(db: Db, ids: Ids, public_url: &str) -> Self {
        AppState {
            db,
            ids: Arc::new(ids),
            public_url: public_url.trim_end_matches('/').into(),
        }
    }

    /// Decodes a public id of the given type; anything undecodable is simply not found.
    pub fn decode(&self, kind: Kind, public_id: &str) -> Result<i64, ApiError> {
        self.ids.decode(kind, public_id).ok_or(ApiError::NotFound)
    }

    pub fn encode(&self, kind: Kind, id: i64) -> String {
        self.ids.encode(kind, id)
    }
}
