//! `postproxy admin …`: account and key management. Results go to stdout as JSON.

use anyhow::{Context, bail};
use serde_json::{Value, json};

use crate::cli::AdminCommand;
use crate::clock::{iso8601, now_ms};
use crate::crypto;
use crate::db::{accounts, api_keys, profile_groups};
use crate::ids::Kind;
use crate::state::AppState;

/// Runs one admin command and returns the JSON to print.
pub async fn run(state: &AppState, cmd: AdminCommand) -> anyhow::Result<Value> {
    let db = &state.db;
    match cmd {
        AdminCommand::CreateAccount { name } => {
            let name = name.trim();
            if name.is_empty() || name.chars().count() > 255 || name.chars().any(char::is_control) {
                bail!("--name must be 1 to 255 characters without control characters");
            }
            let a = accounts::create(db, name, now_ms()).await?;
            Ok(json!({
                "account_id": state.encode(Kind::Account, a.account_id),
                "profile_group_id": state.encode(Kind::ProfileGroup, a.profile_group_id),
                "api_key_id": state.encode(Kind::ApiKey, a.api_key_id),
                "api_key": a.api_key,
            }))
        }
        AdminCommand::ListAccounts => {
            let data: Vec<Value> = accounts::list(db)
                .await?
                .into_iter()
                .map(|a| {
                    json!({
                        "id": state.encode(Kind::Account, a.id),
                        "name": a.name,
                        "created_at": iso8601(a.created_at_ms),
                        "key_count": a.keys,
                    })
                })
                .collect();
            Ok(json!({ "data": data }))
        }
        AdminCommand::CreateKey {
            account,
            profile_group,
            name,
        } => {
            let account_id = account_id(state, &account).await?;
            let group_id = match &profile_group {
                None => None,
                Some(g) => {
                    let id = state
                        .ids
                        .decode(Kind::ProfileGroup, g)
                        .context(format!("no profile group {g:?} in account {account}"))?;
                    if !profile_groups::exists(db, account_id, id).await? {
                        bail!("no profile group {g:?} in account {account}");
                    }
                    Some(id)
                }
            };
            let key = crypto::new_api_key();
            let label = name.unwrap_or_else(|| match group_id {
                None => "Full-access key".into(),
                Some(_) => "Profile-group key".into(),
            });
            let id = api_keys::insert(
                db,
                account_id,
                group_id,
                &label,
                &key.hash,
                &crypto::display_prefix(&key.plaintext),
                now_ms(),
            )
            .await?;
            Ok(json!({
                "id": state.encode(Kind::ApiKey, id),
                "token": key.plaintext,
                "profile_group_id": group_id.map(|g| state.encode(Kind::ProfileGroup, g)),
            }))
        }
        AdminCommand::ListKeys { account } => {
            let account_id = account_id(state, &account).await?;
            let keys = api_keys::list(db, account_id).await?;
            let data: Vec<Value> = keys
                .into_iter()
                .map(|k| {
                    json!({
                        "id": state.encode(Kind::ApiKey, k.id),
                        "name": k.name,
                        "prefix": k.prefix,
                        "profile_group_id": k.profile_group_id.map(|g| state.encode(Kind::ProfileGroup, g)),
                        "created_at": iso8601(k.created_at_ms),
                        "revoked_at": k.revoked_at_ms.map(iso8601),
                    })
                })
                .collect();
            Ok(json!({ "data": data }))
        }
        AdminCommand::RevokeKey { key_id } => {
            let id = state
                .ids
                .decode(Kind::ApiKey, &key_id)
                .with_context(|| format!("no API key {key_id:?}"))?;
            if !api_keys::revoke(db, id, now_ms()).await? {
                bail!("no API key {key_id:?}");
            }
            Ok(json!({ "id": key_id, "revoked": true }))
        }
    }
}

/// An account by its id, or else by its name (which must name exactly one account).
async fn account_id(state: &AppState, id_or_name: &str) -> anyhow::Result<i64> {
    if let Some(id) = state.ids.decode(Kind::Account, id_or_name)
        && accounts::exists(&state.db, id).await?
    {
        return Ok(id);
    }
    match accounts::ids_named(&state.db, id_or_name).await?.as_slice() {
        [id] => Ok(*id),
        [] => bail!("no account with the id or name {id_or_name:?} (see: postproxy admin list-accounts)"),
        _ => bail!(
            "several accounts are named {id_or_name:?}: give the account's id (see: postproxy admin list-accounts)"
        ),
    }
}
