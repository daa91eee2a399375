//! The Kinesis event, decoded in one pass without a JSON tree.
//!
//! Building a `serde_json::Value` per record (maps of owned keys and strings) and then a
//! `KinesisEventRecord` from it cost more than the rest of the handler. [`Batch`] reads the
//! payload straight into the few fields the handler needs, and only checks the types of the
//! fields it ignores, exactly as `aws_lambda_events` would.
//!
//! Decoding never fails on a record: a record that is not exactly what the fast path expects
//! (a field of another type, invalid base64, a record that is not an object…) is kept as the
//! `Value` of its known fields, and the handler treats it as it always did ([`Record::Other`]),
//! so that its failure is reported the same way. Unknown fields are irrelevant to that path
//! (`aws_lambda_events` ignores them), so they are skipped.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::Deserialize;
use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

/// A Kinesis event: its records, or `None` when the payload has no `Records` array.
#[derive(Debug, Default)]
pub struct Batch {
    /// The records, in order; `None` when the payload is not an object with a `Records` array.
    pub records: Option<Vec<Record>>,
}

/// One record of the event.
#[derive(Debug)]
pub enum Record {
    /// A well-formed record, decoded.
    Kinesis(KinesisRecord),
    /// Anything else: the record's known fields as JSON, for the general path.
    Other(Value),
}

/// The fields of a well-formed record that the handler uses.
#[derive(Debug, Clone, PartialEq)]
pub struct KinesisRecord {
    /// `eventID` (`shardId-…:<sequence number>`), when present.
    pub event_id: Option<String>,
    /// `kinesis.partitionKey` (empty when absent, like `aws_lambda_events`).
    pub partition_key: String,
    /// `kinesis.sequenceNumber` (empty when absent).
    pub sequence_number: String,
    /// `kinesis.approximateArrivalTimestamp`, as sent (a number or a string).
    pub arrival: Value,
    /// `kinesis.data`, decoded.
    pub data: Vec<u8>,
}

impl KinesisRecord {
    /// The record as JSON, for the general path: its other fields were checked to be of the
    /// right type and nothing reads their content.
    pub fn into_value(self) -> Value {
        let mut kinesis = Map::new();
        kinesis.insert("approximateArrivalTimestamp".to_owned(), self.arrival);
        kinesis.insert("data".to_owned(), Value::String(STANDARD.encode(self.data)));
        kinesis.insert("partitionKey".to_owned(), Value::String(self.partition_key));
        kinesis.insert(
            "sequenceNumber".to_owned(),
            Value::String(self.sequence_number),
        );
        let mut record = Map::new();
        if let Some(id) = self.event_id {
            record.insert("eventID".to_owned(), Value::String(id));
        }
        record.insert("kinesis".to_owned(), Value::Object(kinesis));
        Value::Object(record)
    }
}

impl<'de> Deserialize<'de> for Batch {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(BatchVisitor)
    }
}

/// Accepts any JSON value; only an object's `Records` array counts.
struct BatchVisitor;

impl<'de> Visitor<'de> for BatchVisitor {
    type Value = Batch;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a Kinesis event")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Batch, A::Error> {
        let mut batch = Batch::default();
        while let Some(key) = map.next_key::<KeyName<'de>>()? {
            if key.is("Records") {
                // The last one wins, as in a JSON object read into a map.
                batch.records = map.next_value_seed(RecordsSeed)?;
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(batch)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Batch, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Batch::default())
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Batch, E> {
        Ok(Batch::default())
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Batch, E> {
        Ok(Batch::default())
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Batch, E> {
        Ok(Batch::default())
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Batch, E> {
        Ok(Batch::default())
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<Batch, E> {
        Ok(Batch::default())
    }
    fn visit_unit<E: de::Error>(self) -> Result<Batch, E> {
        Ok(Batch::default())
    }
}

/// `Records`: `Some` for an array, `None` for any other value.
struct RecordsSeed;

impl<'de> DeserializeSeed<'de> for RecordsSeed {
    type Value = Option<Vec<Record>>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        match loose::<RecordList, D, false>(deserializer)? {
            Loose::Fast(RecordList(records)) => Ok(Some(records)),
            Loose::Other(_) => Ok(None),
        }
    }
}

struct RecordList(Vec<Record>);

impl<'de> Deserialize<'de> for RecordList {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Vec::<Record>::deserialize(deserializer).map(RecordList)
    }
}

/// A value decoded as `T` when it has `T`'s shape (an array for a list, an object for a
/// record, a string for a string), kept as JSON otherwise.
enum Loose<T> {
    Fast(T),
    Other(Value),
}

/// `T` from an object (`MAP`) or an array (not `MAP`); any other value as JSON.
fn loose<'de, T: Deserialize<'de>, D: Deserializer<'de>, const MAP: bool>(
    deserializer: D,
) -> Result<Loose<T>, D::Error> {
    deserializer.deserialize_any(LooseVisitor::<T, MAP>(std::marker::PhantomData))
}

struct LooseVisitor<T, const MAP: bool>(std::marker::PhantomData<T>);

impl<'de, T: Deserialize<'de>, const MAP: bool> Visitor<'de> for LooseVisitor<T, MAP> {
    type Value = Loose<T>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        let seq = de::value::SeqAccessDeserializer::new(seq);
        if MAP {
            Value::deserialize(seq).map(Loose::Other)
        } else {
            T::deserialize(seq).map(Loose::Fast)
        }
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        let map = de::value::MapAccessDeserializer::new(map);
        if MAP {
            T::deserialize(map).map(Loose::Fast)
        } else {
            Value::deserialize(map).map(Loose::Other)
        }
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
        Ok(Loose::Other(Value::Bool(v)))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
        Ok(Loose::Other(Value::from(v)))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
        Ok(Loose::Other(Value::from(v)))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
        Ok(Loose::Other(Value::from(v)))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Loose::Other(Value::String(v.to_owned())))
    }
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(Loose::Other(Value::Null))
    }
}

/// A map key, borrowed when the JSON has no escapes in it.
struct KeyName<'de>(std::borrow::Cow<'de, str>);

impl KeyName<'_> {
    fn is(&self, name: &str) -> bool {
        self.0 == name
    }
}

impl<'de> Deserialize<'de> for KeyName<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = KeyName<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a key")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(KeyName(v.into()))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(KeyName(v.to_owned().into()))
            }
        }
        deserializer.deserialize_str(V)
    }
}

/// A field that must be a string: kept as `Ok(String)`, or as the JSON found instead.
struct Text(Result<String, Value>);

impl<'de> Deserialize<'de> for Text {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        match Value::deserialize(deserializer)? {
            Value::String(text) => Ok(Text(Ok(text))),
            other => Ok(Text(Err(other))),
        }
    }
}

/// A field whose content is not used and must be a string or null: only whether it is.
struct Checked(Result<(), Value>);

impl<'de> Deserialize<'de> for Checked {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Checked;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_str<E: de::Error>(self, _: &str) -> Result<Checked, E> {
                Ok(Checked(Ok(())))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Checked, E> {
                Ok(Checked(Ok(())))
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Checked, E> {
                Ok(Checked(Err(Value::Bool(v))))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Checked, E> {
                Ok(Checked(Err(Value::from(v))))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Checked, E> {
                Ok(Checked(Err(Value::from(v))))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Checked, E> {
                Ok(Checked(Err(Value::from(v))))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Checked, A::Error> {
                Value::deserialize(de::value::SeqAccessDeserializer::new(seq))
                    .map(|v| Checked(Err(v)))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Checked, A::Error> {
                Value::deserialize(de::value::MapAccessDeserializer::new(map))
                    .map(|v| Checked(Err(v)))
            }
        }
        deserializer.deserialize_any(V)
    }
}

/// `kinesis.data`: decoded from base64 when it is valid base64 text, else kept as JSON.
struct Data(Result<Vec<u8>, Value>);

impl<'de> Deserialize<'de> for Data {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Data;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Data, E> {
                Ok(Data(
                    STANDARD.decode(v).map_err(|_| Value::String(v.to_owned())),
                ))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Data, E> {
                Ok(Data(Err(Value::Null)))
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Data, E> {
                Ok(Data(Err(Value::Bool(v))))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Data, E> {
                Ok(Data(Err(Value::from(v))))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Data, E> {
                Ok(Data(Err(Value::from(v))))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Data, E> {
                Ok(Data(Err(Value::from(v))))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Data, A::Error> {
                Value::deserialize(de::value::SeqAccessDeserializer::new(seq)).map(|v| Data(Err(v)))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Data, A::Error> {
                Value::deserialize(de::value::MapAccessDeserializer::new(map)).map(|v| Data(Err(v)))
            }
        }
        deserializer.deserialize_any(V)
    }
}

/// The known fields of `kinesis`, each as found.
#[derive(Default)]
struct KinesisFields {
    arrival: Option<Value>,
    data: Option<Data>,
    encryption_type: Option<Value>,
    partition_key: Option<Text>,
    sequence_number: Option<Text>,
    schema_version: Option<Checked>,
}

impl<'de> Deserialize<'de> for KinesisFields {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = KinesisFields;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<KinesisFields, A::Error> {
                let mut fields = KinesisFields::default();
                while let Some(key) = map.next_key::<KeyName<'de>>()? {
                    match key.0.as_ref() {
                        "approximateArrivalTimestamp" => fields.arrival = Some(map.next_value()?),
                        "data" => fields.data = Some(map.next_value()?),
                        "encryptionType" => fields.encryption_type = Some(map.next_value()?),
                        "partitionKey" => fields.partition_key = Some(map.next_value()?),
                        "sequenceNumber" => fields.sequence_number = Some(map.next_value()?),
                        "kinesisSchemaVersion" => fields.schema_version = Some(map.next_value()?),
                        _ => {
                            map.next_value::<IgnoredAny>()?;
                        }
                    }
                }
                Ok(fields)
            }
        }
        deserializer.deserialize_map(V)
    }
}

/// The record fields `aws_lambda_events` type-checks, besides `kinesis`.
const CHECKED_FIELDS: [&str; 6] = [
    "awsRegion",
    "eventName",
    "eventSource",
    "eventSourceARN",
    "eventVersion",
    "invokeIdentityArn",
];

/// The known fields of a record, each as found.
#[derive(Default)]
struct RecordFields {
    /// `eventID`: a string or null, or the JSON found instead.
    event_id: Option<Result<Option<String>, Value>>,
    checked: [Option<Checked>; 6],
    kinesis: Option<KinesisLoose>,
}

/// `kinesis`: its fields when it is an object, else its JSON.
struct KinesisLoose(Loose<KinesisFields>);

impl<'de> Deserialize<'de> for KinesisLoose {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        loose::<KinesisFields, D, true>(deserializer).map(KinesisLoose)
    }
}

impl<'de> Deserialize<'de> for Record {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        match loose::<RecordFieldsMap, D, true>(deserializer)? {
            Loose::Fast(RecordFieldsMap(fields)) => Ok(fields.into_record()),
            Loose::Other(value) => Ok(Record::Other(value)),
        }
    }
}

struct RecordFieldsMap(RecordFields);

impl<'de> Deserialize<'de> for RecordFieldsMap {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = RecordFieldsMap;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RecordFieldsMap, A::Error> {
                let mut fields = RecordFields::default();
                while let Some(key) = map.next_key::<KeyName<'de>>()? {
                    let name = key.0.as_ref();
                    if name == "kinesis" {
                        fields.kinesis = Some(map.next_value()?);
                    } else if name == "eventID" {
                        fields.event_id = Some(match map.next_value::<Value>()? {
                            Value::String(id) => Ok(Some(id)),
                            Value::Null => Ok(None),
                            other => Err(other),
                        });
                    } else if let Some(i) = CHECKED_FIELDS.iter().position(|f| *f == name) {
                        fields.checked[i] = Some(map.next_value()?);
                    } else {
                        map.next_value::<IgnoredAny>()?;
                    }
                }
                Ok(RecordFieldsMap(fields))
            }
        }
        deserializer.deserialize_map(V)
    }
}

impl RecordFields {
    /// The decoded record when every field has the type `aws_lambda_events` wants and the
    /// identifying fields are there; else the known fields as JSON.
    fn into_record(self) -> Record {
        let checked_ok = self.checked.iter().all(|c| match c {
            None => true,
            Some(Checked(result)) => result.is_ok(),
        });
        let event_id_ok = self.event_id.as_ref().is_none_or(Result::is_ok);
        let fast = match &self.kinesis {
            Some(KinesisLoose(Loose::Fast(k))) => {
                checked_ok
                    && event_id_ok
                    && k.arrival.is_some()
                    && matches!(k.data, Some(Data(Ok(_))))
                    && k.encryption_type.as_ref().is_none_or(|t| {
                        serde_json::from_value::<
                            aws_lambda_events::event::kinesis::KinesisEncryptionType,
                        >(t.clone())
                        .is_ok()
                    })
                    && k.partition_key.as_ref().is_none_or(|t| t.0.is_ok())
                    && matches!(&k.sequence_number, Some(Text(Ok(s))) if !s.is_empty())
                    && k.schema_version
                        .as_ref()
                        .is_none_or(|Checked(result)| result.is_ok())
            }
            _ => false,
        };
        if !fast {
            return Record::Other(self.into_value());
        }
        let Some(KinesisLoose(Loose::Fast(kinesis))) = self.kinesis else {
            return Record::Other(Value::Null);
        };
        let text = |field: Option<Text>| field.and_then(|Text(t)| t.ok()).unwrap_or_default();
        Record::Kinesis(KinesisRecord {
            event_id: self.event_id.and_then(Result::ok).flatten(),
            partition_key: text(kinesis.partition_key),
            sequence_number: text(kinesis.sequence_number),
            arrival: kinesis.arrival.unwrap_or_default(),
            data: match kinesis.data {
                Some(Data(Ok(data))) => data,
                _ => Vec::new(),
            },
        })
    }

    /// The known fields as the JSON object they came from (unknown fields left out: nothing
    /// reads them); a checked string's content is not kept and becomes `""`.
    fn into_value(self) -> Value {
        let mut record = Map::new();
        for (name, checked) in CHECKED_FIELDS.iter().zip(self.checked) {
            if let Some(Checked(result)) = checked {
                record.insert((*name).to_owned(), checked_value(result));
            }
        }
        if let Some(id) = self.event_id {
            let id = id.map_or_else(|v| v, |id| id.map_or(Value::Null, Value::String));
            record.insert("eventID".to_owned(), id);
        }
        match self.kinesis {
            Some(KinesisLoose(Loose::Other(value))) => {
                record.insert("kinesis".to_owned(), value);
            }
            Some(KinesisLoose(Loose::Fast(k))) => {
                let mut kinesis = Map::new();
                if let Some(arrival) = k.arrival {
                    kinesis.insert("approximateArrivalTimestamp".to_owned(), arrival);
                }
                if let Some(Data(data)) = k.data {
                    let data = data
                        .map(|bytes| Value::String(STANDARD.encode(bytes)))
                        .unwrap_or_else(|v| v);
                    kinesis.insert("data".to_owned(), data);
                }
                if let Some(t) = k.encryption_type {
                    kinesis.insert("encryptionType".to_owned(), t);
                }
                for (name, field) in [
                    ("partitionKey", k.partition_key),
                    ("sequenceNumber", k.sequence_number),
                ] {
                    if let Some(Text(t)) = field {
                        kinesis.insert(name.to_owned(), t.map_or_else(|v| v, Value::String));
                    }
                }
                if let Some(Checked(result)) = k.schema_version {
                    kinesis.insert("kinesisSchemaVersion".to_owned(), checked_value(result));
                }
                record.insert("kinesis".to_owned(), Value::Object(kinesis));
            }
            None => {}
        }
        Value::Object(record)
    }
}

fn checked_value(result: Result<(), Value>) -> Value {
    result.map_or_else(|v| v, |()| Value::String(String::new()))
}
