//! `pg-value`s as query parameters, and result columns as `pg-value`s.
//!
//! The common types convert both ways: integers, booleans, floats, `numeric`, text types,
//! `bytea`, `json`/`jsonb`, `uuid`, `date`, `time`, `timestamp`, `timestamptz`, and arrays of
//! integers, booleans, floats, text, `bytea` and `uuid`. Any other case is refused with an error
//! that names it, rather than guessed at.

use std::error::Error;

use chrono::{DateTime, Datelike as _, FixedOffset, NaiveDate, NaiveDateTime, NaiveTime, Timelike as _, Utc};
use tokio_postgres::Row;
use tokio_postgres::types::{self as pg, FromSql, IsNull, ToSql, Type};

use crate::host::types::{Date, Offset, PgValue, Time, Timestamp, TimestampTz};
use crate::numeric;

type BoxError = Box<dyn Error + Sync + Send>;

/// A `pg-value` as a query parameter, checked against the type the server expects.
#[derive(Debug)]
pub(crate) struct Param(pub(crate) PgValue);

/// The case's name, for errors: `Int4`, `Text`, ...
fn case(value: &PgValue) -> String {
    let debug = format!("{value:?}");
    let name = debug.split('(').next().unwrap_or(&debug);
    name.trim_start_matches("PgValue::").to_owned()
}

/// `(mantissa, exponent, sign)` of `value`, as `num`'s `integer_decode` gives it.
pub(crate) fn to_hashable(value: f64) -> (u64, i16, i8) {
    let bits = value.to_bits();
    let sign = if bits >> 63 == 0 { 1 } else { -1 };
    let biased = i16::try_from((bits >> 52) & 0x7ff).expect("11 bits");
    let fraction = bits & 0xf_ffff_ffff_ffff;
    let mantissa = if biased == 0 { fraction << 1 } else { fraction | 0x10_0000_0000_0000 };
    (mantissa, biased - 1075, sign)
}

/// The float a `hashable-f64` stands for.
#[expect(clippy::cast_precision_loss, reason = "the mantissa has at most 53 significant bits")]
pub(crate) fn from_hashable((mantissa, exponent, sign): (u64, i16, i8)) -> f64 {
    f64::from(sign) * mantissa as f64 * 2f64.powi(i32::from(exponent))
}

fn date(value: &Date) -> Result<pg::Date<NaiveDate>, BoxError> {
    Ok(match value {
        Date::PositiveInfinity => pg::Date::PosInfinity,
        Date::NegativeInfinity => pg::Date::NegInfinity,
        Date::Ymd((y, m, d)) => pg::Date::Value(NaiveDate::from_ymd_opt(*y, *m, *d).ok_or_else(|| format!("{y}-{m}-{d} is not a date"))?),
    })
}

fn time(t: &Time) -> Result<NaiveTime, BoxError> {
    Ok(NaiveTime::from_hms_micro_opt(t.hour, t.min, t.sec, t.micro).ok_or_else(|| format!("{}:{}:{}.{} is not a time", t.hour, t.min, t.sec, t.micro))?)
}

fn timestamp(ts: &Timestamp) -> Result<pg::Timestamp<NaiveDateTime>, BoxError> {
    Ok(match date(&ts.date)? {
        pg::Date::PosInfinity => pg::Timestamp::PosInfinity,
        pg::Date::NegInfinity => pg::Timestamp::NegInfinity,
        pg::Date::Value(d) => pg::Timestamp::Value(d.and_time(time(&ts.time)?)),
    })
}

fn timestamp_tz(ts: &TimestampTz) -> Result<pg::Timestamp<DateTime<FixedOffset>>, BoxError> {
    let offset = match ts.offset {
        Offset::EasternHemisphereSecs(s) => FixedOffset::east_opt(s),
        Offset::WesternHemisphereSecs(s) => FixedOffset::west_opt(s),
    }
    .ok_or("the offset is more than a day")?;
    Ok(match timestamp(&ts.timestamp)? {
        pg::Timestamp::PosInfinity => pg::Timestamp::PosInfinity,
        pg::Timestamp::NegInfinity => pg::Timestamp::NegInfinity,
        pg::Timestamp::Value(local) => pg::Timestamp::Value(
            local.and_local_timezone(offset).single().ok_or("the local time does not exist at that offset")?,
        ),
    })
}

/// Sends an integer as whichever integer type the server expects, if it fits.
fn integer(value: i64, ty: &Type, out: &mut bytes::BytesMut) -> Result<IsNull, BoxError> {
    let fit = |e| -> BoxError { format!("{value} does not fit in {ty}: {e}").into() };
    match *ty {
        Type::INT2 => i16::try_from(value).map_err(fit)?.to_sql(ty, out),
        Type::INT4 => i32::try_from(value).map_err(fit)?.to_sql(ty, out),
        Type::INT8 => value.to_sql(ty, out),
        Type::NUMERIC => {
            out.extend_from_slice(&numeric::from_text(&value.to_string())?);
            Ok(IsNull::No)
        }
        _ => Err(format!("an integer cannot be a parameter of type {ty}").into()),
    }
}

fn text(value: &str, ty: &Type, out: &mut bytes::BytesMut, what: &str) -> Result<IsNull, BoxError> {
    match *ty {
        Type::JSON => {
            out.extend_from_slice(value.as_bytes());
            Ok(IsNull::No)
        }
        Type::JSONB => {
            out.extend_from_slice(&[1]);
            out.extend_from_slice(value.as_bytes());
            Ok(IsNull::No)
        }
        Type::NUMERIC => {
            out.extend_from_slice(&numeric::from_text(value)?);
            Ok(IsNull::No)
        }
        Type::UUID => uuid::Uuid::parse_str(value).map_err(|e| format!("`{value}` is not a UUID: {e}"))?.to_sql(ty, out),
        _ if <&str as ToSql>::accepts(ty) => value.to_sql(ty, out),
        _ => Err(format!("{what} cannot be a parameter of type {ty}").into()),
    }
}

fn utf8(bytes: &[u8]) -> Result<&str, BoxError> {
    Ok(std::str::from_utf8(bytes).map_err(|e| format!("the characters are not UTF-8: {e}"))?)
}

/// Sends `value` as `ty` if `T` is what the server expects.
fn typed<T: ToSql>(value: T, ty: &Type, out: &mut bytes::BytesMut, what: &str) -> Result<IsNull, BoxError> {
    if T::accepts(ty) { value.to_sql(ty, out) } else { Err(format!("{what} cannot be a parameter of type {ty}").into()) }
}

impl ToSql for Param {
    fn to_sql(&self, ty: &Type, out: &mut bytes::BytesMut) -> Result<IsNull, BoxError> {
        use PgValue as V;
        let what = case(&self.0);
        match &self.0 {
            V::Null => Ok(IsNull::Yes),
            V::BigInt(v) | V::Int8(v) | V::BigSerial(v) | V::Serial8(v) => integer(*v, ty, out),
            V::Integer(v) | V::Int(v) | V::Int4(v) => integer((*v).into(), ty, out),
            V::Serial(v) | V::Serial4(v) => integer((*v).into(), ty, out),
            V::SmallInt(v) | V::Int2(v) | V::SmallSerial(v) | V::Serial2(v) => integer((*v).into(), ty, out),
            V::Bool(v) | V::Boolean(v) => typed(*v, ty, out, &what),
            V::Double(h) | V::Float8(h) | V::Real(h) | V::Float4(h) => {
                let value = from_hashable(*h);
                match *ty {
                    #[expect(clippy::cast_possible_truncation, reason = "a float4 column holds f32 precision")]
                    Type::FLOAT4 => (value as f32).to_sql(ty, out),
                    Type::NUMERIC => text(&value.to_string(), ty, out, &what),
                    _ => typed(value, ty, out, &what),
                }
            }
            V::Numeric(s) | V::Decimal(s) | V::Money(s) => match *ty {
                Type::NUMERIC => text(s, ty, out, &what),
                _ => Err(format!("{what} cannot be a parameter of type {ty}").into()),
            },
            V::Text(s) | V::Name(s) | V::Xml(s) | V::Json(s) | V::Jsonb(s) | V::Uuid(s) => text(s, ty, out, &what),
            V::Varchar((_, bytes)) | V::Char((_, bytes)) => text(utf8(bytes)?, ty, out, &what),
            V::Bytea(bytes) => typed(bytes.as_slice(), ty, out, &what),
            V::Date(d) => typed(date(d)?, ty, out, &what),
            V::Time(t) => typed(time(t)?, ty, out, &what),
            V::Timestamp(ts) => typed(timestamp(ts)?, ty, out, &what),
            V::TimestampTz(ts) => typed(timestamp_tz(ts)?, ty, out, &what),
            V::Int8Array(v) => typed(v, ty, out, &what),
            V::Int4Array(v) => typed(v, ty, out, &what),
            V::Int2Array(v) => typed(v, ty, out, &what),
            V::BoolArray(v) => typed(v, ty, out, &what),
            V::Float8Array(v) => typed(v.iter().copied().map(from_hashable).collect::<Vec<f64>>(), ty, out, &what),
            #[expect(clippy::cast_possible_truncation, reason = "a float4 array holds f32 precision")]
            V::Float4Array(v) => typed(v.iter().map(|h| from_hashable(*h) as f32).collect::<Vec<f32>>(), ty, out, &what),
            V::TextArray(v) | V::NameArray(v) => typed(v, ty, out, &what),
            V::ByteaArray(v) => typed(v, ty, out, &what),
            V::UuidArray(v) => {
                let ids = v.iter().map(|s| uuid::Uuid::parse_str(s).map_err(|e| format!("`{s}` is not a UUID: {e}"))).collect::<Result<Vec<_>, _>>()?;
                typed(ids, ty, out, &what)
            }
            _ => Err(format!("{what} parameters are not supported by Trellis yet").into()),
        }
    }

    fn accepts(_: &Type) -> bool {
        // Checked per value in `to_sql`, which names the case and the type.
        true
    }

    tokio_postgres::types::to_sql_checked!();
}

/// A `numeric` column as decimal text.
struct NumericText(String);

impl<'a> FromSql<'a> for NumericText {
    fn from_sql(_: &Type, raw: &'a [u8]) -> Result<NumericText, BoxError> {
        Ok(NumericText(numeric::to_text(raw)?))
    }

    fn accepts(ty: &Type) -> bool {
        *ty == Type::NUMERIC
    }
}

fn to_date(d: pg::Date<NaiveDate>) -> Date {
    match d {
        pg::Date::PosInfinity => Date::PositiveInfinity,
        pg::Date::NegInfinity => Date::NegativeInfinity,
        pg::Date::Value(d) => Date::Ymd((d.year(), d.month(), d.day())),
    }
}

fn to_time(t: NaiveTime) -> Time {
    Time { hour: t.hour(), min: t.minute(), sec: t.second(), micro: t.nanosecond() / 1000 }
}

fn to_timestamp(ts: pg::Timestamp<NaiveDateTime>) -> Timestamp {
    let midnight = Time { hour: 0, min: 0, sec: 0, micro: 0 };
    match ts {
        pg::Timestamp::PosInfinity => Timestamp { date: Date::PositiveInfinity, time: midnight },
        pg::Timestamp::NegInfinity => Timestamp { date: Date::NegativeInfinity, time: midnight },
        pg::Timestamp::Value(v) => Timestamp { date: to_date(pg::Date::Value(v.date())), time: to_time(v.time()) },
    }
}

/// Column `i` of `row` as a `pg-value`; why not, naming the column and its type.
pub(crate) fn column(row: &Row, i: usize) -> Result<PgValue, String> {
    let col = &row.columns()[i];
    let ty = col.type_();
    let failed = |e: tokio_postgres::Error| format!("column `{}` ({ty}): {e}", col.name());
    macro_rules! get {
        ($t:ty, $case:expr) => {
            row.try_get::<_, Option<$t>>(i).map_err(failed)?.map_or(PgValue::Null, $case)
        };
    }
    Ok(match *ty {
        Type::BOOL => get!(bool, PgValue::Boolean),
        Type::INT2 => get!(i16, PgValue::Int2),
        Type::INT4 => get!(i32, PgValue::Int4),
        Type::INT8 => get!(i64, PgValue::Int8),
        Type::OID => get!(u32, PgValue::Serial4),
        Type::FLOAT4 => get!(f32, |v| PgValue::Float4(to_hashable(v.into()))),
        Type::FLOAT8 => get!(f64, |v| PgValue::Float8(to_hashable(v))),
        Type::NUMERIC => get!(NumericText, |v| PgValue::Numeric(v.0)),
        Type::TEXT => get!(String, PgValue::Text),
        Type::NAME => get!(String, PgValue::Name),
        Type::VARCHAR => get!(String, |v| PgValue::Varchar((None, v.into_bytes()))),
        Type::BPCHAR => get!(String, |v| PgValue::Char((u32::try_from(v.chars().count()).unwrap_or(u32::MAX), v.into_bytes()))),
        Type::BYTEA => get!(Vec<u8>, PgValue::Bytea),
        Type::JSON => get!(serde_json::Value, |v| PgValue::Json(v.to_string())),
        Type::JSONB => get!(serde_json::Value, |v| PgValue::Jsonb(v.to_string())),
        Type::UUID => get!(uuid::Uuid, |v| PgValue::Uuid(v.to_string())),
        Type::DATE => get!(pg::Date<NaiveDate>, |v| PgValue::Date(to_date(v))),
        Type::TIME => get!(NaiveTime, |v| PgValue::Time(to_time(v))),
        Type::TIMESTAMP => get!(pg::Timestamp<NaiveDateTime>, |v| PgValue::Timestamp(to_timestamp(v))),
        Type::TIMESTAMPTZ => get!(pg::Timestamp<DateTime<Utc>>, |v| {
            let utc = match v {
                pg::Timestamp::PosInfinity => pg::Timestamp::PosInfinity,
                pg::Timestamp::NegInfinity => pg::Timestamp::NegInfinity,
                pg::Timestamp::Value(v) => pg::Timestamp::Value(v.naive_utc()),
            };
            PgValue::TimestampTz(TimestampTz { timestamp: to_timestamp(utc), offset: Offset::EasternHemisphereSecs(0) })
        }),
        Type::BOOL_ARRAY => get!(Vec<bool>, PgValue::BoolArray),
        Type::INT2_ARRAY => get!(Vec<i16>, PgValue::Int2Array),
        Type::INT4_ARRAY => get!(Vec<i32>, PgValue::Int4Array),
        Type::INT8_ARRAY => get!(Vec<i64>, PgValue::Int8Array),
        Type::FLOAT4_ARRAY => get!(Vec<f32>, |v| PgValue::Float4Array(v.into_iter().map(|f| to_hashable(f.into())).collect())),
        Type::FLOAT8_ARRAY => get!(Vec<f64>, |v| PgValue::Float8Array(v.into_iter().map(to_hashable).collect())),
        Type::TEXT_ARRAY | Type::VARCHAR_ARRAY => get!(Vec<String>, PgValue::TextArray),
        Type::NAME_ARRAY => get!(Vec<String>, PgValue::NameArray),
        Type::BYTEA_ARRAY => get!(Vec<Vec<u8>>, PgValue::ByteaArray),
        Type::UUID_ARRAY => get!(Vec<uuid::Uuid>, |v| PgValue::UuidArray(v.iter().map(ToString::to_string).collect())),
        _ => return Err(format!("column `{}` has type {ty}, which Trellis cannot convert to a pg-value yet", col.name())),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_round_trip_through_hashable_triples() {
        for v in [0.0, 1.0, -2.5, std::f64::consts::PI, 1e300, -1e-300, f64::from(f32::MAX)] {
            assert_eq!(from_hashable(to_hashable(v)), v, "{v}");
        }
        assert_eq!(to_hashable(1.0), (1 << 52, -52, 1));
    }

    #[test]
    fn a_value_of_the_wrong_type_is_refused_by_name() {
        let refused = |value: PgValue, ty: Type| match Param(value).to_sql(&ty, &mut bytes::BytesMut::new()) {
            Ok(_) => panic!("sent as {ty}"),
            Err(e) => e.to_string(),
        };
        assert_eq!(refused(PgValue::Boolean(true), Type::INT4), "Boolean cannot be a parameter of type int4");
        assert!(refused(PgValue::Int8(70_000), Type::INT2).starts_with("70000 does not fit in int2"));
        assert_eq!(refused(PgValue::Cidr("10.0.0.0/8".into()), Type::CIDR), "Cidr parameters are not supported by Trellis yet");
        assert!(refused(PgValue::Uuid("nope".into()), Type::UUID).starts_with("`nope` is not a UUID"));
    }
}
