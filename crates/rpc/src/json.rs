//! `trellis call`: a request naming an exported function and its arguments as JSON, answered by
//! one of the hosts running the component (the queue group `<lattice>.<id>`).
//!
//! Values map to JSON as a user would write them: records are objects, lists and tuples arrays,
//! `option` is `null` or the value, `result` is `{"ok": v}` or `{"err": v}`, an enum case or a
//! variant case without payload is its name, a variant case with one is `{"case": payload}`,
//! flags are an array of names, and a `char` is a one-character string.

use std::sync::Arc;

use futures::StreamExt as _;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use trellis_lattice::{Lattice, Message, Subscriber};
use trellis_runtime::PreparedComponent;
use trellis_runtime::wasmtime::component::{Type, Val};

use crate::link::unversioned;
use crate::serve::Export;

/// A `trellis call` request.
#[derive(Debug, Serialize, Deserialize)]
pub struct CallRequest {
    /// `ns:pkg/iface@version.func`, `ns:pkg/iface.func` (any version the component exports),
    /// or `func` for a root export.
    pub function: String,
    /// One JSON value per parameter.
    pub args: Vec<Value>,
}

impl CallRequest {
    /// The subject a request for component `id` of lattice `lattice` goes to.
    pub fn subject(lattice: &str, id: &str) -> String {
        format!("trellis.call.v1.{lattice}.{id}")
    }
}

pub(crate) async fn serve(lattice: Arc<dyn Lattice>, mut requests: Subscriber, component: PreparedComponent, exports: Vec<Arc<Export>>) {
    while let Some(message) = requests.next().await {
        let Some(reply) = message.reply.clone() else { continue };
        let (lattice, component, exports) = (lattice.clone(), component.clone(), exports.clone());
        tokio::spawn(async move {
            let body = match answer(&component, &exports, &message.payload).await {
                Ok(results) => json!({"success": true, "message": "", "response": results}),
                Err(e) => json!({"success": false, "message": e}),
            };
            let out = Message::new(reply, serde_json::to_vec(&body).expect("JSON values serialize"));
            if let Err(e) = lattice.publish(out).await {
                tracing::warn!(component = component.id(), "answering a call: {e}");
            }
        });
    }
}

async fn answer(component: &PreparedComponent, exports: &[Arc<Export>], payload: &[u8]) -> Result<Vec<Value>, String> {
    let request: CallRequest = serde_json::from_slice(payload).map_err(|e| format!("a call request is JSON {{\"function\", \"args\"}}: {e}"))?;
    let export = find(component.id(), exports, &request.function)?;
    if request.args.len() != export.params.len() {
        return Err(format!(
            "`{}` of `{}` takes {} argument(s), {} given",
            crate::local::qualified(&export.instance, &export.func),
            component.id(),
            export.params.len(),
            request.args.len()
        ));
    }
    let params = request
        .args
        .iter()
        .zip(&export.params)
        .enumerate()
        .map(|(i, (v, ty))| to_val(v, ty).map_err(|e| format!("argument {}: {e}", i + 1)))
        .collect::<Result<Vec<_>, _>>()?;
    let mut results = vec![Val::Bool(false); export.results.len()];
    crate::local::call(component, &export.instance, &export.func, &params, &mut results).await.map_err(|e| e.to_string())?;
    Ok(results.iter().map(from_val).collect())
}

/// The export `function` names: exact, or by interface without version, or a root function.
fn find<'a>(id: &str, exports: &'a [Arc<Export>], function: &str) -> Result<&'a Export, String> {
    let (instance, func) = match function.rsplit_once(['.', '#']) {
        Some((i, f)) if i.contains('/') => (i, f),
        _ => ("", function),
    };
    exports
        .iter()
        .find(|e| e.func == func && e.instance == instance)
        .or_else(|| exports.iter().find(|e| e.func == func && !instance.contains('@') && unversioned(&e.instance) == instance))
        .map(|e| &**e)
        .ok_or_else(|| {
            let known: Vec<String> = exports.iter().map(|e| crate::local::qualified(&e.instance, &e.func)).collect();
            format!("component `{id}` does not export `{function}`; it exports: {}", if known.is_empty() { "nothing callable".into() } else { known.join(", ") })
        })
}

/// The JSON form of a value.
pub(crate) fn from_val(v: &Val) -> Value {
    match v {
        Val::Bool(b) => json!(b),
        Val::S8(n) => json!(n),
        Val::U8(n) => json!(n),
        Val::S16(n) => json!(n),
        Val::U16(n) => json!(n),
        Val::S32(n) => json!(n),
        Val::U32(n) => json!(n),
        Val::S64(n) => json!(n),
        Val::U64(n) => json!(n),
        Val::Float32(n) => json!(n),
        Val::Float64(n) => json!(n),
        Val::Char(c) => json!(c.to_string()),
        Val::String(s) => json!(s),
        Val::List(items) | Val::Tuple(items) | Val::FixedLengthList(items) => Value::Array(items.iter().map(from_val).collect()),
        Val::Record(fields) => Value::Object(fields.iter().map(|(k, v)| (k.clone(), from_val(v))).collect()),
        Val::Variant(case, None) | Val::Enum(case) => json!(case),
        Val::Variant(case, Some(v)) => json!({ case.as_str(): from_val(v) }),
        Val::Option(v) => v.as_deref().map_or(Value::Null, from_val),
        Val::Result(Ok(v)) => json!({"ok": v.as_deref().map_or(Value::Null, from_val)}),
        Val::Result(Err(v)) => json!({"err": v.as_deref().map_or(Value::Null, from_val)}),
        Val::Flags(names) => json!(names),
        Val::Map(pairs) => Value::Array(pairs.iter().map(|(k, v)| json!([from_val(k), from_val(v)])).collect()),
        Val::Resource(_) | Val::Future(_) | Val::Stream(_) | Val::ErrorContext(_) => json!("(not representable)"),
    }
}

/// A value of type `ty` from its JSON form.
pub(crate) fn to_val(v: &Value, ty: &Type) -> Result<Val, String> {
    let expected = |what: &str| format!("expected {what}, got {v}");
    let int = || v.as_i64().map(i128::from).or(v.as_u64().map(i128::from)).ok_or_else(|| expected("an integer"));
    let ranged = |n: i128, what: &str| format!("{n} does not fit in {what}");
    Ok(match ty {
        Type::Bool => Val::Bool(v.as_bool().ok_or_else(|| expected("true or false"))?),
        Type::S8 => Val::S8(int().and_then(|n| i8::try_from(n).map_err(|_| ranged(n, "s8")))?),
        Type::U8 => Val::U8(int().and_then(|n| u8::try_from(n).map_err(|_| ranged(n, "u8")))?),
        Type::S16 => Val::S16(int().and_then(|n| i16::try_from(n).map_err(|_| ranged(n, "s16")))?),
        Type::U16 => Val::U16(int().and_then(|n| u16::try_from(n).map_err(|_| ranged(n, "u16")))?),
        Type::S32 => Val::S32(int().and_then(|n| i32::try_from(n).map_err(|_| ranged(n, "s32")))?),
        Type::U32 => Val::U32(int().and_then(|n| u32::try_from(n).map_err(|_| ranged(n, "u32")))?),
        Type::S64 => Val::S64(int().and_then(|n| i64::try_from(n).map_err(|_| ranged(n, "s64")))?),
        Type::U64 => Val::U64(int().and_then(|n| u64::try_from(n).map_err(|_| ranged(n, "u64")))?),
        Type::Float32 => Val::Float32(v.as_f64().ok_or_else(|| expected("a number"))? as f32),
        Type::Float64 => Val::Float64(v.as_f64().ok_or_else(|| expected("a number"))?),
        Type::Char => {
            let s = v.as_str().ok_or_else(|| expected("a one-character string"))?;
            let mut chars = s.chars();
            match (chars.next(), chars.next()) {
                (Some(c), None) => Val::Char(c),
                _ => return Err(expected("a one-character string")),
            }
        }
        Type::String => Val::String(v.as_str().ok_or_else(|| expected("a string"))?.to_owned()),
        Type::List(list) => {
            let ty = list.ty();
            Val::List(v.as_array().ok_or_else(|| expected("an array"))?.iter().map(|item| to_val(item, &ty)).collect::<Result<_, _>>()?)
        }
        Type::Tuple(tuple) => {
            let items = v.as_array().ok_or_else(|| expected("an array"))?;
            if items.len() != tuple.types().len() {
                return Err(expected(&format!("an array of {}", tuple.types().len())));
            }
            Val::Tuple(items.iter().zip(tuple.types()).map(|(item, ty)| to_val(item, &ty)).collect::<Result<_, _>>()?)
        }
        Type::Record(record) => {
            let object = v.as_object().ok_or_else(|| expected("an object"))?;
            Val::Record(
                record
                    .fields()
                    .map(|f| {
                        let value = object.get(f.name).unwrap_or(&Value::Null);
                        Ok((f.name.to_owned(), to_val(value, &f.ty).map_err(|e| format!("field `{}`: {e}", f.name))?))
                    })
                    .collect::<Result<_, String>>()?,
            )
        }
        Type::Enum(e) => {
            let name = v.as_str().ok_or_else(|| expected("a case name"))?;
            if !e.names().any(|n| n == name) {
                return Err(format!("`{name}` is not one of {}", e.names().collect::<Vec<_>>().join(", ")));
            }
            Val::Enum(name.to_owned())
        }
        Type::Variant(variant) => {
            let (name, payload) = match v {
                Value::String(s) => (s.as_str(), None),
                Value::Object(o) if o.len() == 1 => o.iter().next().map(|(k, v)| (k.as_str(), Some(v))).expect("one entry"),
                _ => return Err(expected("a case name or {\"case\": payload}")),
            };
            let case = variant.cases().find(|c| c.name == name).ok_or_else(|| {
                format!("`{name}` is not one of {}", variant.cases().map(|c| c.name).collect::<Vec<_>>().join(", "))
            })?;
            let payload = match (&case.ty, payload) {
                (Some(ty), Some(p)) => Some(Box::new(to_val(p, ty)?)),
                (None, None | Some(Value::Null)) => None,
                (Some(_), None) => return Err(format!("case `{name}` takes a payload: {{\"{name}\": ...}}")),
                (None, Some(_)) => return Err(format!("case `{name}` takes no payload")),
            };
            Val::Variant(name.to_owned(), payload)
        }
        Type::Option(option) => match v {
            Value::Null => Val::Option(None),
            v => Val::Option(Some(Box::new(to_val(v, &option.ty())?))),
        },
        Type::Result(result) => {
            let object: &Map<String, Value> = v.as_object().filter(|o| o.len() == 1).ok_or_else(|| expected("{\"ok\": ...} or {\"err\": ...}"))?;
            let (tag, payload) = object.iter().next().expect("one entry");
            let ty = match tag.as_str() {
                "ok" => result.ok(),
                "err" => result.err(),
                _ => return Err(expected("{\"ok\": ...} or {\"err\": ...}")),
            };
            let payload = ty.map(|ty| to_val(payload, &ty).map(Box::new)).transpose()?;
            Val::Result(if tag == "ok" { Ok(payload) } else { Err(payload) })
        }
        Type::Flags(flags) => {
            let names = v.as_array().ok_or_else(|| expected("an array of flag names"))?;
            let mut out = Vec::new();
            for n in names {
                let n = n.as_str().ok_or_else(|| expected("an array of flag names"))?;
                if !flags.names().any(|f| f == n) {
                    return Err(format!("`{n}` is not one of {}", flags.names().collect::<Vec<_>>().join(", ")));
                }
                out.push(n.to_owned());
            }
            Val::Flags(out)
        }
        _ => return Err("this type cannot be given on the command line".into()),
    })
}
