//! A YAML (or JSON) document as a tree of nodes that remember their line.

use saphyr::{LoadableYamlNode, MarkedYaml, Scalar, YamlData};

/// One value of the document and the line (1-based) it starts on.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Node {
    pub(crate) line: usize,
    pub(crate) value: Value,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Value {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Seq(Vec<Node>),
    /// Keys keep their own line so "unknown field" points at the key, not its parent.
    Map(Vec<(String, usize, Node)>),
}

impl Value {
    /// The name of this kind of value as a user reads it in an error.
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            Value::Null => "null",
            Value::Bool(_) => "a boolean",
            Value::Int(_) => "an integer",
            Value::Float(_) => "a number",
            Value::Str(_) => "a string",
            Value::Seq(_) => "a list",
            Value::Map(_) => "a mapping",
        }
    }
}

/// Why a document could not be read as YAML at all.
#[derive(Debug)]
pub(crate) struct SyntaxError {
    pub(crate) line: usize,
    pub(crate) message: String,
}

/// Parses one YAML or JSON document (JSON is a subset of YAML 1.2, so one parser serves both).
pub(crate) fn parse(text: &str) -> Result<Node, SyntaxError> {
    let docs = MarkedYaml::load_from_str(text).map_err(|e| SyntaxError {
        line: e.marker().line(),
        message: e.info().to_owned(),
    })?;
    let mut docs = docs.into_iter();
    let Some(first) = docs.next() else {
        return Err(SyntaxError { line: 1, message: "the document is empty".into() });
    };
    if let Some(second) = docs.next() {
        return Err(SyntaxError {
            line: second.span.start.line(),
            message: "expected one document, found a second one (`---`)".into(),
        });
    }
    convert(first)
}

impl Node {
    /// The line of the value at a field path such as `spec.components[0].properties.image`.
    pub(crate) fn line_of(&self, path: &str) -> Option<usize> {
        let mut node = self;
        for part in path.split('.') {
            let (key, indices) = match part.find('[') {
                Some(i) => (&part[..i], &part[i..]),
                None => (part, ""),
            };
            if !key.is_empty() {
                let Value::Map(entries) = &node.value else { return None };
                node = &entries.iter().find(|(k, _, _)| k == key)?.2;
            }
            for index in indices.split(['[', ']']).filter(|s| !s.is_empty()) {
                let Value::Seq(items) = &node.value else { return None };
                node = items.get(index.parse::<usize>().ok()?)?;
            }
        }
        Some(node.line)
    }
}

fn convert(yaml: MarkedYaml<'_>) -> Result<Node, SyntaxError> {
    let line = yaml.span.start.line();
    let value = match yaml.data {
        YamlData::Value(scalar) => scalar_value(scalar),
        // Representation only appears with early-parse disabled; read it as the text it is.
        YamlData::Representation(text, _, _) => Value::Str(text.into_owned()),
        YamlData::Sequence(items) => {
            Value::Seq(items.into_iter().map(convert).collect::<Result<_, _>>()?)
        }
        YamlData::Mapping(map) => {
            let mut entries = Vec::with_capacity(map.len());
            for (key, value) in map {
                let key_line = key.span.start.line();
                let key = match key.data {
                    YamlData::Value(Scalar::String(s)) => s.into_owned(),
                    YamlData::Value(other) => scalar_text(&other),
                    _ => {
                        return Err(SyntaxError {
                            line: key_line,
                            message: "mapping keys must be plain strings".into(),
                        });
                    }
                };
                entries.push((key, key_line, convert(value)?));
            }
            Value::Map(entries)
        }
        YamlData::Tagged(_, inner) => return convert(*inner),
        YamlData::Alias(_) => {
            return Err(SyntaxError { line, message: "YAML aliases are not supported".into() });
        }
        YamlData::BadValue => {
            return Err(SyntaxError { line, message: "unreadable value".into() });
        }
    };
    Ok(Node { line, value })
}

fn scalar_value(scalar: Scalar<'_>) -> Value {
    match scalar {
        Scalar::Null => Value::Null,
        Scalar::Boolean(b) => Value::Bool(b),
        Scalar::Integer(i) => Value::Int(i),
        Scalar::FloatingPoint(f) => Value::Float(f.into_inner()),
        Scalar::String(s) => Value::Str(s.into_owned()),
    }
}

fn scalar_text(scalar: &Scalar<'_>) -> String {
    match scalar {
        Scalar::Null => "null".into(),
        Scalar::Boolean(b) => b.to_string(),
        Scalar::Integer(i) => i.to_string(),
        Scalar::FloatingPoint(f) => f.to_string(),
        Scalar::String(s) => s.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_one_based_and_keys_keep_theirs() {
        let node = parse("a: 1\nb:\n  c: [x, y]\n").unwrap();
        let Value::Map(entries) = node.value else { panic!("not a map") };
        assert_eq!(entries[0].1, 1);
        assert_eq!(entries[1].1, 2);
        let Value::Map(inner) = &entries[1].2.value else { panic!("not a map") };
        assert_eq!(inner[0].1, 3);
    }

    #[test]
    fn json_parses_with_lines() {
        let node = parse("{\n  \"a\": {\n    \"b\": 2\n  }\n}").unwrap();
        let Value::Map(entries) = node.value else { panic!("not a map") };
        let Value::Map(inner) = &entries[0].2.value else { panic!("not a map") };
        assert_eq!(inner[0].1, 3);
        assert_eq!(inner[0].2.value, Value::Int(2));
    }

    #[test]
    fn field_paths_find_their_line() {
        let node = parse("spec:\n  components:\n    - name: a\n    - name: b\n      image: x\n").unwrap();
        assert_eq!(node.line_of("spec.components[1].image"), Some(5));
        assert_eq!(node.line_of("spec.components[2]"), None);
        assert_eq!(node.line_of("spec.nope"), None);
    }

    #[test]
    fn syntax_errors_carry_a_line() {
        let err = parse("a: 1\nb: [\n").unwrap_err();
        assert!(err.line >= 2, "{err:?}");
    }
}
