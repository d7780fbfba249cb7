//! Component values on the wire: wRPC's value encoding (the component model's value definition
//! encoding), driven by the function's types, so any WIT signature crosses without generated code.
//!
//! Integers above 8 bits are LEB128 (signed for `s*`), floats little-endian, `char` UTF-8,
//! strings and lists a LEB128 length then the items, records and tuples their fields in order,
//! variants and enums a LEB128 case index, options and results a one-byte tag, flags a
//! little-endian bit vector of `ceil(n / 8)` bytes.

use bytes::{BufMut, BytesMut};
use trellis_runtime::wasmtime::component::{Type, Val};

/// Why a value could not be encoded or decoded.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CodecError {
    /// The bytes end before the value does; more may arrive.
    #[error("the value is truncated")]
    Short,
    /// The bytes are not a value of the type.
    #[error("{0}")]
    Invalid(String),
    /// The type cannot cross hosts by value (resources, streams, futures).
    #[error("values of type {0} cannot be passed between hosts by this host")]
    Unsupported(&'static str),
}

fn invalid(what: impl Into<String>) -> CodecError {
    CodecError::Invalid(what.into())
}

/// Appends `values`, typed by `types`, to `out`.
pub fn encode_all<'a>(values: &[Val], types: impl IntoIterator<Item = &'a Type>, out: &mut BytesMut) -> Result<(), CodecError> {
    for (v, ty) in values.iter().zip(types) {
        encode(v, ty, out)?;
    }
    Ok(())
}

/// Appends `value`, of type `ty`, to `out`.
pub fn encode(value: &Val, ty: &Type, out: &mut BytesMut) -> Result<(), CodecError> {
    match (value, ty) {
        (Val::Bool(v), Type::Bool) => out.put_u8(u8::from(*v)),
        (Val::S8(v), Type::S8) => out.put_i8(*v),
        (Val::U8(v), Type::U8) => out.put_u8(*v),
        (Val::S16(v), Type::S16) => leb_signed(i64::from(*v), out),
        (Val::S32(v), Type::S32) => leb_signed(i64::from(*v), out),
        (Val::S64(v), Type::S64) => leb_signed(*v, out),
        (Val::U16(v), Type::U16) => leb(u64::from(*v), out),
        (Val::U32(v), Type::U32) => leb(u64::from(*v), out),
        (Val::U64(v), Type::U64) => leb(*v, out),
        (Val::Float32(v), Type::Float32) => out.put_f32_le(*v),
        (Val::Float64(v), Type::Float64) => out.put_f64_le(*v),
        (Val::Char(c), Type::Char) => out.put_slice(c.encode_utf8(&mut [0; 4]).as_bytes()),
        (Val::String(s), Type::String) => {
            leb(len(s.len())?, out);
            out.put_slice(s.as_bytes());
        }
        (Val::List(items), Type::List(list)) => {
            leb(len(items.len())?, out);
            let ty = list.ty();
            for item in items {
                encode(item, &ty, out)?;
            }
        }
        (Val::Record(fields), Type::Record(record)) => {
            for ((_, v), field) in fields.iter().zip(record.fields()) {
                encode(v, &field.ty, out)?;
            }
        }
        (Val::Tuple(items), Type::Tuple(tuple)) => {
            for (v, ty) in items.iter().zip(tuple.types()) {
                encode(v, &ty, out)?;
            }
        }
        (Val::Variant(name, payload), Type::Variant(variant)) => {
            let (index, case) = variant.cases().enumerate().find(|(_, c)| c.name == name).ok_or_else(|| invalid(format!("no variant case `{name}`")))?;
            leb(index as u64, out);
            match (payload, case.ty) {
                (Some(v), Some(ty)) => encode(v, &ty, out)?,
                (None, None) => {}
                _ => return Err(invalid(format!("variant case `{name}`: payload does not match its type"))),
            }
        }
        (Val::Enum(name), Type::Enum(e)) => {
            let index = e.names().position(|n| n == name).ok_or_else(|| invalid(format!("no enum case `{name}`")))?;
            leb(index as u64, out);
        }
        (Val::Option(v), Type::Option(option)) => match v {
            None => out.put_u8(0),
            Some(v) => {
                out.put_u8(1);
                encode(v, &option.ty(), out)?;
            }
        },
        (Val::Result(v), Type::Result(result)) => {
            let (tag, payload, ty) = match v {
                Ok(p) => (0, p, result.ok()),
                Err(p) => (1, p, result.err()),
            };
            out.put_u8(tag);
            match (payload, ty) {
                (Some(v), Some(ty)) => encode(v, &ty, out)?,
                (None, None) => {}
                _ => return Err(invalid("result payload does not match its type")),
            }
        }
        (Val::Flags(set), Type::Flags(flags)) => {
            let names: Vec<&str> = flags.names().collect();
            let mut bits = vec![0u8; names.len().div_ceil(8)];
            for name in set {
                let i = names.iter().position(|n| n == name).ok_or_else(|| invalid(format!("no flag `{name}`")))?;
                bits[i / 8] |= 1 << (i % 8);
            }
            out.put_slice(&bits);
        }
        (_, ty) => {
            if let Some(name) = unsupported(ty) {
                return Err(CodecError::Unsupported(name));
            }
            return Err(invalid(format!("a value of the wrong type for {}", type_name(ty))));
        }
    }
    Ok(())
}

/// Decodes one value of each of `types` from the front of `bytes`; returns them and how many
/// bytes they took. [`CodecError::Short`] if `bytes` ends first.
pub fn decode_all<'a>(bytes: &[u8], types: impl IntoIterator<Item = &'a Type>) -> Result<(Vec<Val>, usize), CodecError> {
    let mut reader = Reader { bytes, at: 0 };
    let values = types.into_iter().map(|ty| reader.value(ty)).collect::<Result<_, _>>()?;
    Ok((values, reader.at))
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Reader<'_> {
    fn take(&mut self, n: usize) -> Result<&[u8], CodecError> {
        let end = self.at.checked_add(n).filter(|&e| e <= self.bytes.len()).ok_or(CodecError::Short)?;
        let out = &self.bytes[self.at..end];
        self.at = end;
        Ok(out)
    }

    fn byte(&mut self) -> Result<u8, CodecError> {
        Ok(self.take(1)?[0])
    }

    fn leb(&mut self, bits: u32) -> Result<u64, CodecError> {
        let mut value = 0u64;
        for shift in (0..bits.div_ceil(7) * 7).step_by(7) {
            let b = self.byte()?;
            value |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return if bits < 64 && value >> bits != 0 { Err(invalid(format!("u{bits} out of range"))) } else { Ok(value) };
            }
        }
        Err(invalid(format!("LEB128 u{bits} too long")))
    }

    fn leb_signed(&mut self, bits: u32) -> Result<i64, CodecError> {
        let mut value = 0i64;
        let mut shift = 0;
        loop {
            let b = self.byte()?;
            if shift >= bits.div_ceil(7) * 7 {
                return Err(invalid(format!("LEB128 s{bits} too long")));
            }
            value |= i64::from(b & 0x7f).checked_shl(shift).unwrap_or(0);
            shift += 7;
            if b & 0x80 == 0 {
                if shift < 64 && b & 0x40 != 0 {
                    value |= -1i64 << shift;
                }
                let (min, max) = (-(1i128 << (bits - 1)), (1i128 << (bits - 1)) - 1);
                return if (min..=max).contains(&i128::from(value)) { Ok(value) } else { Err(invalid(format!("s{bits} out of range"))) };
            }
        }
    }

    fn length(&mut self) -> Result<usize, CodecError> {
        let n = self.leb(32)? as usize;
        Ok(n)
    }

    fn value(&mut self, ty: &Type) -> Result<Val, CodecError> {
        Ok(match ty {
            Type::Bool => Val::Bool(self.byte()? != 0),
            Type::S8 => Val::S8(self.byte()? as i8),
            Type::U8 => Val::U8(self.byte()?),
            Type::S16 => Val::S16(self.leb_signed(16)? as i16),
            Type::S32 => Val::S32(self.leb_signed(32)? as i32),
            Type::S64 => Val::S64(self.leb_signed(64)?),
            Type::U16 => Val::U16(self.leb(16)? as u16),
            Type::U32 => Val::U32(self.leb(32)? as u32),
            Type::U64 => Val::U64(self.leb(64)?),
            Type::Float32 => Val::Float32(f32::from_le_bytes(self.take(4)?.try_into().expect("4 bytes"))),
            Type::Float64 => Val::Float64(f64::from_le_bytes(self.take(8)?.try_into().expect("8 bytes"))),
            Type::Char => {
                let first = *self.bytes.get(self.at).ok_or(CodecError::Short)?;
                let width = match first {
                    0x00..=0x7f => 1,
                    0xc0..=0xdf => 2,
                    0xe0..=0xef => 3,
                    _ => 4,
                };
                let bytes = self.take(width)?;
                let s = std::str::from_utf8(bytes).map_err(|_| invalid("a char that is not UTF-8"))?;
                Val::Char(s.chars().next().expect("one char"))
            }
            Type::String => {
                let n = self.length()?;
                let bytes = self.take(n)?;
                Val::String(std::str::from_utf8(bytes).map_err(|_| invalid("a string that is not UTF-8"))?.to_owned())
            }
            Type::List(list) => {
                let n = self.length()?;
                let ty = list.ty();
                // Each item takes at least a byte: a length past the bytes is short, not a reason to allocate.
                let mut items = Vec::with_capacity(n.min(self.bytes.len() - self.at));
                for _ in 0..n {
                    items.push(self.value(&ty)?);
                }
                Val::List(items)
            }
            Type::Record(record) => {
                Val::Record(record.fields().map(|f| Ok((f.name.to_owned(), self.value(&f.ty)?))).collect::<Result<_, CodecError>>()?)
            }
            Type::Tuple(tuple) => Val::Tuple(tuple.types().map(|ty| self.value(&ty)).collect::<Result<_, _>>()?),
            Type::Variant(variant) => {
                let index = self.leb(32)? as usize;
                let case = variant.cases().nth(index).ok_or_else(|| invalid(format!("variant case {index} does not exist")))?;
                let payload = match &case.ty {
                    Some(ty) => Some(Box::new(self.value(ty)?)),
                    None => None,
                };
                Val::Variant(case.name.to_owned(), payload)
            }
            Type::Enum(e) => {
                let index = self.leb(32)? as usize;
                Val::Enum(e.names().nth(index).ok_or_else(|| invalid(format!("enum case {index} does not exist")))?.to_owned())
            }
            Type::Option(option) => match self.byte()? {
                0 => Val::Option(None),
                1 => Val::Option(Some(Box::new(self.value(&option.ty())?))),
                tag => return Err(invalid(format!("option tag {tag}"))),
            },
            Type::Result(result) => {
                let (ok, ty) = match self.byte()? {
                    0 => (true, result.ok()),
                    1 => (false, result.err()),
                    tag => return Err(invalid(format!("result tag {tag}"))),
                };
                let payload = match ty {
                    Some(ty) => Some(Box::new(self.value(&ty)?)),
                    None => None,
                };
                Val::Result(if ok { Ok(payload) } else { Err(payload) })
            }
            Type::Flags(flags) => {
                let names: Vec<&str> = flags.names().collect();
                let bits = self.take(names.len().div_ceil(8))?;
                Val::Flags(names.iter().enumerate().filter(|(i, _)| bits[i / 8] & (1 << (i % 8)) != 0).map(|(_, n)| (*n).to_owned()).collect())
            }
            other => return Err(unsupported(other).map_or_else(|| invalid(format!("type {}", type_name(other))), CodecError::Unsupported)),
        })
    }
}

/// What in `ty`, at any depth, cannot be passed by value between components: a resource, a
/// stream, ...; none if a value of it can be.
pub(crate) fn unpassable(ty: &Type) -> Option<&'static str> {
    let inner: Vec<Type> = match ty {
        Type::List(l) => vec![l.ty()],
        Type::Option(o) => vec![o.ty()],
        Type::Record(r) => r.fields().map(|f| f.ty).collect(),
        Type::Tuple(t) => t.types().collect(),
        Type::Variant(v) => v.cases().filter_map(|c| c.ty).collect(),
        Type::Result(r) => r.ok().into_iter().chain(r.err()).collect(),
        other => return unsupported(other),
    };
    inner.iter().find_map(unpassable)
}

/// The kinds of type that cannot be passed by value between hosts.
fn unsupported(ty: &Type) -> Option<&'static str> {
    match ty {
        Type::Own(_) | Type::Borrow(_) => Some("resource"),
        Type::Future(_) => Some("future"),
        Type::Stream(_) => Some("stream"),
        Type::ErrorContext => Some("error-context"),
        Type::Map(_) => Some("map"),
        Type::FixedLengthList(_) => Some("fixed-length list"),
        _ => None,
    }
}

fn type_name(ty: &Type) -> &'static str {
    match ty {
        Type::Bool => "bool",
        Type::S8 | Type::S16 | Type::S32 | Type::S64 | Type::U8 | Type::U16 | Type::U32 | Type::U64 => "an integer",
        Type::Float32 | Type::Float64 => "a float",
        Type::Char => "char",
        Type::String => "string",
        Type::List(_) => "list",
        Type::Record(_) => "record",
        Type::Tuple(_) => "tuple",
        Type::Variant(_) => "variant",
        Type::Enum(_) => "enum",
        Type::Option(_) => "option",
        Type::Result(_) => "result",
        Type::Flags(_) => "flags",
        other => unsupported(other).unwrap_or("an unknown type"),
    }
}

fn len(n: usize) -> Result<u64, CodecError> {
    u32::try_from(n).map(u64::from).map_err(|_| invalid("a string or list longer than 2^32"))
}

fn leb(mut v: u64, out: &mut BytesMut) {
    loop {
        let byte = (v & 0x7f) as u8;
        v >>= 7;
        if v == 0 {
            out.put_u8(byte);
            return;
        }
        out.put_u8(byte | 0x80);
    }
}

fn leb_signed(mut v: i64, out: &mut BytesMut) {
    loop {
        let byte = (v & 0x7f) as u8;
        v >>= 7;
        let done = (v == 0 && byte & 0x40 == 0) || (v == -1 && byte & 0x40 != 0);
        if done {
            out.put_u8(byte);
            return;
        }
        out.put_u8(byte | 0x80);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bytes(value: Val, ty: Type) -> Vec<u8> {
        let mut out = BytesMut::new();
        encode(&value, &ty, &mut out).unwrap();
        let (back, used) = decode_all(&out, [&ty]).unwrap();
        assert_eq!((back, used), (vec![value], out.len()), "decodes to what was encoded");
        out.to_vec()
    }

    #[test]
    fn integers_are_leb128_as_in_the_component_model_value_encoding() {
        assert_eq!(bytes(Val::U32(624_485), Type::U32), [0xe5, 0x8e, 0x26]);
        assert_eq!(bytes(Val::S32(-123_456), Type::S32), [0xc0, 0xbb, 0x78]);
        assert_eq!(bytes(Val::S64(-1), Type::S64), [0x7f]);
        assert_eq!(bytes(Val::S16(63), Type::S16), [0x3f]);
        assert_eq!(bytes(Val::S16(64), Type::S16), [0xc0, 0x00]);
        assert_eq!(bytes(Val::U64(u64::MAX), Type::U64), [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]);
        assert_eq!(bytes(Val::S64(i64::MIN), Type::S64).len(), 10);
        assert_eq!(bytes(Val::S8(-2), Type::S8), [0xfe]);
        assert_eq!(bytes(Val::U8(200), Type::U8), [200]);
    }

    #[test]
    fn scalars_and_strings() {
        assert_eq!(bytes(Val::Bool(true), Type::Bool), [1]);
        assert_eq!(bytes(Val::Float32(1.5), Type::Float32), 1.5f32.to_le_bytes());
        assert_eq!(bytes(Val::Float64(-0.25), Type::Float64), (-0.25f64).to_le_bytes());
        assert_eq!(bytes(Val::Char('λ'), Type::Char), "λ".as_bytes());
        assert_eq!(bytes(Val::Char('🦀'), Type::Char), "🦀".as_bytes());
        assert_eq!(bytes(Val::String("hé".into()), Type::String), [3, b'h', 0xc3, 0xa9]);
        assert_eq!(bytes(Val::String(String::new()), Type::String), [0]);
    }

    #[test]
    fn out_of_range_or_malformed_input_is_refused_and_a_prefix_is_short() {
        assert_eq!(decode_all(&[0x80, 0x80, 0x04], [&Type::U16]).unwrap_err(), CodecError::Invalid("u16 out of range".into()));
        assert_eq!(decode_all(&[0x80], [&Type::U32]).unwrap_err(), CodecError::Short);
        assert_eq!(decode_all(&[5, b'a'], [&Type::String]).unwrap_err(), CodecError::Short);
        assert!(matches!(decode_all(&[2, 0xff, 0xfe], [&Type::String]).unwrap_err(), CodecError::Invalid(_)));
        assert_eq!(decode_all(&[0x80, 0x80, 0x80, 0x80, 0x80, 0x01], [&Type::U32]).unwrap_err(), CodecError::Invalid("LEB128 u32 too long".into()));
        let mut out = BytesMut::new();
        assert!(matches!(encode(&Val::U8(1), &Type::String, &mut out), Err(CodecError::Invalid(_))));
    }

    #[test]
    fn several_values_follow_each_other() {
        let mut out = BytesMut::new();
        encode_all(&[Val::String("a".into()), Val::U32(300), Val::Bool(false)], [&Type::String, &Type::U32, &Type::Bool], &mut out).unwrap();
        assert_eq!(&out[..], [1, b'a', 0xac, 0x02, 0]);
        let (values, used) = decode_all(&out, [&Type::String, &Type::U32, &Type::Bool]).unwrap();
        assert_eq!(used, 5);
        assert_eq!(values, [Val::String("a".into()), Val::U32(300), Val::Bool(false)]);
    }
}
