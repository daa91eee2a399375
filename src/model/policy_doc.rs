//! IAM-style policy documents compared and merged as JSON values, never as strings.

use serde_json::Value;

/// Normalise an IAM-style policy so that equivalent documents compare equal:
/// single strings become one-element arrays and arrays of strings are sorted.
pub fn normalize_policy(policy: &Value) -> Value {
    fn list(v: &Value) -> Value {
        match v {
            Value::String(_) => Value::Array(vec![v.clone()]),
            Value::Array(items) => {
                let mut items = items.clone();
                items.sort_by_key(|a| a.to_string());
                Value::Array(items)
            }
            other => other.clone(),
        }
    }
    let mut policy = policy.clone();
    let statements = match policy.get_mut("Statement") {
        Some(Value::Array(s)) => s,
        Some(single @ Value::Object(_)) => {
            *single = Value::Array(vec![single.take()]);
            match single {
                Value::Array(s) => s,
                _ => unreachable!("just made an array"),
            }
        }
        _ => return policy,
    };
    for st in statements.iter_mut() {
        let Value::Object(map) = st else { continue };
        for key in ["Action", "NotAction", "Resource", "NotResource"] {
            if let Some(v) = map.get_mut(key) {
                *v = list(v);
            }
        }
        if let Some(Value::Object(principal)) = map.get_mut("Principal") {
            for v in principal.values_mut() {
                *v = list(v);
            }
        }
    }
    policy
}

/// Whether two policies are equivalent (compared as normalised JSON values, not strings).
pub fn same_policy(a: &Value, b: &Value) -> bool {
    normalize_policy(a) == normalize_policy(b)
}

/// A policy's statements as a list (a single statement may be an object).
fn statements(policy: &Value) -> Vec<Value> {
    match policy.get("Statement") {
        Some(Value::Array(list)) => list.clone(),
        Some(one @ Value::Object(_)) => vec![one.clone()],
        _ => Vec::new(),
    }
}

/// `ours` with the statements of `existing` whose `Sid` is not one of ours kept before them.
/// Statements without a `Sid` are never ours.
pub fn merge_policy(existing: Option<&Value>, ours: &Value) -> Value {
    let mine = statements(ours);
    let sid = |s: &Value| s.get("Sid").and_then(Value::as_str).map(str::to_string);
    let our_sids: Vec<String> = mine.iter().filter_map(sid).collect();
    let mut merged: Vec<Value> = existing
        .map(statements)
        .unwrap_or_default()
        .into_iter()
        .filter(|s| sid(s).is_none_or(|id| !our_sids.contains(&id)))
        .collect();
    merged.extend(mine);
    let mut policy = ours.clone();
    if let Some(id) = existing.and_then(|p| p.get("Id")) {
        policy["Id"] = id.clone();
    }
    policy["Statement"] = Value::Array(merged);
    policy
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn merging_keeps_foreign_statements_and_replaces_ours() {
        let ours =
            json!({"Version": "2012-10-17", "Statement": [{"Sid": "Ours", "Effect": "Deny"}]});
        assert_eq!(merge_policy(None, &ours), ours);
        let existing = json!({
            "Version": "2008-10-17",
            "Id": "theirs",
            "Statement": [
                {"Sid": "Audit", "Effect": "Allow"},
                {"Sid": "Ours", "Effect": "Allow"},
                {"Effect": "Allow", "Action": "s3:GetObject"}
            ]
        });
        let merged = merge_policy(Some(&existing), &ours);
        assert_eq!(
            merged,
            json!({
                "Version": "2012-10-17",
                "Id": "theirs",
                "Statement": [
                    {"Sid": "Audit", "Effect": "Allow"},
                    {"Effect": "Allow", "Action": "s3:GetObject"},
                    {"Sid": "Ours", "Effect": "Deny"}
                ]
            })
        );
        // Merging is idempotent: a merged policy merges to itself.
        assert!(same_policy(&merge_policy(Some(&merged), &ours), &merged));
        // A single statement given as an object is kept too.
        let single = json!({"Statement": {"Sid": "Audit", "Effect": "Allow"}});
        assert_eq!(statements(&merge_policy(Some(&single), &ours)).len(), 2);
    }

    #[test]
    fn policies_compare_as_values() {
        let a = json!({"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:PutObject","Resource":["b","a"],"Principal":{"Service":"lambda.amazonaws.com"}}]});
        let b = json!({"Statement":{"Resource":["a","b"],"Action":["s3:PutObject"],"Effect":"Allow","Principal":{"Service":["lambda.amazonaws.com"]}},"Version":"2012-10-17"});
        assert!(same_policy(&a, &b));
        let c = json!({"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":["a","b"]}]});
        assert!(!same_policy(&a, &c));
    }
}
