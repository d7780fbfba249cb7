//! How `podTemplateAdditions` and `containerTemplateAdditions` combine with what the operator
//! generates, the way a strategic merge patch would for the fields users set there: objects
//! merge key by key, lists of named items (`env`, `volumes`, `volumeMounts`, `containers`, ...)
//! merge item by item on `name`, other lists (`tolerations`, `args`) are appended to, and a
//! scalar the user gives replaces the generated one.

use serde_json::Value;

/// Merges `addition` into `base`.
pub(crate) fn merge(base: &mut Value, addition: &Value) {
    match (base, addition) {
        (Value::Object(base), Value::Object(addition)) => {
            for (key, value) in addition {
                match base.get_mut(key) {
                    Some(existing) => merge(existing, value),
                    None => {
                        base.insert(key.clone(), value.clone());
                    }
                }
            }
        }
        (Value::Array(base), Value::Array(addition)) => {
            for item in addition {
                let same_name = name_of(item).and_then(|name| base.iter_mut().find(|b| name_of(b) == Some(name)));
                match same_name {
                    Some(existing) => merge(existing, item),
                    None => base.push(item.clone()),
                }
            }
        }
        (base, addition) => *base = addition.clone(),
    }
}

fn name_of(item: &Value) -> Option<&str> {
    item.get("name")?.as_str()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn named_lists_merge_by_name_and_others_append() {
        let mut base = json!({
            "containers": [{"name": "wasmcloud-host", "env": [{"name": "A", "value": "1"}], "args": ["host"]}],
            "tolerations": [{"key": "a"}],
        });
        merge(&mut base, &json!({
            "containers": [{"name": "wasmcloud-host", "env": [{"name": "A", "value": "2"}, {"name": "B", "value": "3"}], "args": ["-l", "x=y"]}],
            "tolerations": [{"key": "b"}],
            "nodeSelector": {"disk": "ssd"},
        }));
        assert_eq!(base, json!({
            "containers": [{"name": "wasmcloud-host", "env": [{"name": "A", "value": "2"}, {"name": "B", "value": "3"}], "args": ["host", "-l", "x=y"]}],
            "tolerations": [{"key": "a"}, {"key": "b"}],
            "nodeSelector": {"disk": "ssd"},
        }));
    }
}
