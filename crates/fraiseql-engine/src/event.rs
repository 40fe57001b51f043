//! Published events and who may see them.

use std::sync::Arc;
use std::time::Instant;

use serde_json::Value;

use crate::error::{EngineError, EngineResult};

/// A user or tenant identity. Integers are normalised to their decimal text so that
/// `user_id=7` and `user_id="7"` name the same user.
pub type ScopeKey = Arc<str>;

/// One event, shared by every group it reaches.
#[derive(Debug)]
pub struct Event {
    pub event_type: Arc<str>,
    pub channel: Arc<str>,
    pub data: Value,
    pub scope: EventScope,
    pub published_at: Instant,
}

/// Who an event is for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventScope {
    /// The tenant the event belongs to; `None` means no tenant.
    pub tenant: Option<ScopeKey>,
    /// When set, only this user's subscriptions receive the event.
    pub user: Option<ScopeKey>,
    /// A global event reaches every tenant (the user target still applies).
    pub global: bool,
}

/// The security context a subscription was registered with.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct SecurityContext {
    pub user: Option<ScopeKey>,
    pub tenant: Option<ScopeKey>,
}

impl SecurityContext {
    /// Fail-closed visibility: tenants must match exactly (no tenant only matches no tenant)
    /// unless the event is global; a targeted event reaches only its user.
    #[inline]
    pub fn can_see(&self, scope: &EventScope) -> bool {
        if !scope.global && self.tenant != scope.tenant {
            return false;
        }
        match &scope.user {
            None => true,
            Some(target) => self.user.as_ref() == Some(target),
        }
    }
}

/// Where the engine reads an event's tenant and target user when the publisher does not name them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScopeFields {
    pub tenant_field: Option<String>,
    pub user_field: Option<String>,
}

impl Default for ScopeFields {
    fn default() -> Self {
        Self { tenant_field: Some("tenant_id".to_owned()), user_field: Some("user_id".to_owned()) }
    }
}

impl ScopeFields {
    /// Completes `explicit` with the fields found in `data` (explicit values win).
    pub fn resolve(&self, data: &Value, explicit: EventScope) -> EngineResult<EventScope> {
        let tenant = match explicit.tenant {
            Some(tenant) => Some(tenant),
            None => read_scope_field(data, self.tenant_field.as_deref())?,
        };
        let user = match explicit.user {
            Some(user) => Some(user),
            None => read_scope_field(data, self.user_field.as_deref())?,
        };
        Ok(EventScope { tenant, user, global: explicit.global })
    }
}

fn read_scope_field(data: &Value, field: Option<&str>) -> EngineResult<Option<ScopeKey>> {
    let Some(field) = field else { return Ok(None) };
    match data.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) => Ok(Some(Arc::from(text.as_str()))),
        Some(Value::Number(number)) if number.is_i64() || number.is_u64() => Ok(Some(Arc::from(number.to_string()))),
        Some(other) => Err(EngineError::InvalidEvent(format!(
            "field {field:?} must be a string or an integer, not {}",
            json_type_name(other)
        ))),
    }
}

pub(crate) fn json_type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn key(text: &str) -> Option<ScopeKey> {
        Some(Arc::from(text))
    }

    fn scope(tenant: Option<&str>, user: Option<&str>, global: bool) -> EventScope {
        EventScope { tenant: tenant.map(Arc::from), user: user.map(Arc::from), global }
    }

    #[test]
    fn tenant_must_match_exactly() {
        let ctx = SecurityContext { user: key("u1"), tenant: key("t1") };
        assert!(ctx.can_see(&scope(Some("t1"), None, false)));
        assert!(!ctx.can_see(&scope(Some("t2"), None, false)));
        assert!(!ctx.can_see(&scope(None, None, false)), "an event without tenant is not delivered to a tenant");
        assert!(ctx.can_see(&scope(None, None, true)), "global events reach every tenant");
        let anonymous = SecurityContext::default();
        assert!(anonymous.can_see(&scope(None, None, false)));
        assert!(!anonymous.can_see(&scope(Some("t1"), None, false)));
    }

    #[test]
    fn targeted_events_reach_only_their_user() {
        let alice = SecurityContext { user: key("alice"), tenant: None };
        let bob = SecurityContext { user: key("bob"), tenant: None };
        let nobody = SecurityContext::default();
        let event = scope(None, Some("alice"), false);
        assert!(alice.can_see(&event));
        assert!(!bob.can_see(&event));
        assert!(!nobody.can_see(&event));
        assert!(!bob.can_see(&scope(Some("t"), Some("alice"), true)), "global does not lift the user target");
    }

    #[test]
    fn scope_is_read_from_configured_fields() {
        let fields = ScopeFields::default();
        let data = json!({"tenant_id": "t1", "user_id": 42});
        let resolved = fields.resolve(&data, EventScope::default()).unwrap();
        assert_eq!(resolved, scope(Some("t1"), Some("42"), false));
        let explicit = scope(Some("t9"), None, false);
        assert_eq!(fields.resolve(&data, explicit).unwrap(), scope(Some("t9"), Some("42"), false));
        let off = ScopeFields { tenant_field: None, user_field: None };
        assert_eq!(off.resolve(&data, EventScope::default()).unwrap(), EventScope::default());
        let renamed = ScopeFields { tenant_field: Some("org".into()), user_field: None };
        assert_eq!(renamed.resolve(&json!({"org": "o"}), EventScope::default()).unwrap().tenant, key("o"));
    }

    #[test]
    fn bad_scope_field_is_refused() {
        let error = ScopeFields::default().resolve(&json!({"tenant_id": true}), EventScope::default()).unwrap_err();
        assert!(error.to_string().contains("\"tenant_id\" must be a string or an integer"), "{error}");
    }
}
