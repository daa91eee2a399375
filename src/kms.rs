//! KMS key identifiers as Kinesis takes them (`StartStreamEncryption`'s `KeyId`): a key ID, a
//! key ARN, an alias name (`alias/...`) or an alias ARN. Pure: parsing, the shape check the
//! config runs, the comparison the plan makes, and the IAM statement that lets a principal use
//! a stream's key. No KMS call is made, so an alias and the key
//! it points to cannot be told apart here (see [`KeyRef::same_as`]).

use serde_json::{Value, json};

/// The AWS-managed key of Kinesis Data Streams, the default `stream.kms_key_id`.
pub const AWS_MANAGED_KINESIS_KEY: &str = "alias/aws/kinesis";

/// A parsed key identifier.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyRef<'a> {
    /// A key, by ID (`1234abcd-…` or a multi-Region `mrk-…`), with the account and region of
    /// its ARN when it was given as one.
    Key {
        /// The key ID.
        id: &'a str,
        /// `(partition, region, account)` of a key ARN.
        arn: Option<(&'a str, &'a str, &'a str)>,
    },
    /// An alias, by name without the `alias/` prefix, with the ARN parts of an alias ARN.
    Alias {
        /// The alias name after `alias/`.
        name: &'a str,
        /// `(partition, region, account)` of an alias ARN.
        arn: Option<(&'a str, &'a str, &'a str)>,
    },
}

impl<'a> KeyRef<'a> {
    /// Parse `key`; `Err` says what is wrong with its shape, for a config message.
    pub fn parse(key: &'a str) -> Result<KeyRef<'a>, String> {
        if let Some(rest) = key.strip_prefix("arn:") {
            let parts: Vec<&str> = rest.splitn(5, ':').collect();
            let [partition, service, region, account, resource] = parts[..] else {
                return Err("an ARN must look like `arn:aws:kms:<region>:<account>:key/<key id>` or `…:alias/<name>`".into());
            };
            if partition.is_empty() || service != "kms" {
                return Err(format!(
                    "an ARN must be a KMS ARN (`arn:aws:kms:…`), got service `{service}`"
                ));
            }
            if region.is_empty() {
                return Err("a KMS ARN must name a region".into());
            }
            if account.len() != 12 || !account.bytes().all(|b| b.is_ascii_digit()) {
                return Err(format!(
                    "a KMS ARN must name a 12-digit account, got `{account}`"
                ));
            }
            let arn = Some((partition, region, account));
            if let Some(id) = resource.strip_prefix("key/") {
                check_key_id(id)?;
                Ok(KeyRef::Key { id, arn })
            } else if let Some(name) = resource.strip_prefix("alias/") {
                check_alias(name)?;
                Ok(KeyRef::Alias { name, arn })
            } else {
                Err(format!(
                    "a KMS ARN must end in `key/<key id>` or `alias/<name>`, got `{resource}`"
                ))
            }
        } else if let Some(name) = key.strip_prefix("alias/") {
            check_alias(name)?;
            Ok(KeyRef::Alias { name, arn: None })
        } else {
            check_key_id(key)?;
            Ok(KeyRef::Key { id: key, arn: None })
        }
    }

    /// Whether this is the AWS-managed Kinesis key (`alias/aws/kinesis`, or its alias ARN).
    pub fn is_aws_managed(&self) -> bool {
        matches!(self, KeyRef::Alias { name, .. } if *name == "aws/kinesis")
    }

    /// Whether `self` (wanted) and `other` (what Kinesis reports) name the same key, as far as
    /// can be told without KMS. A key ID equals its key ARN and an alias name its alias ARN.
    ///
    /// A wanted alias against a reported key cannot be resolved locally: it counts as the
    /// same, so that a stream whose `KeyId` AWS reports as the ARN of the key behind the alias
    /// does not show a change on every run. A wanted key against a reported alias is a
    /// change: kstream never sets an alias for a key, and a stream set to the wanted key
    /// reports that key afterwards, so one StartStreamEncryption converges it either way.
    pub fn same_as(&self, other: &KeyRef<'_>) -> bool {
        let same_place =
            |a: &Option<(&str, &str, &str)>, b: &Option<(&str, &str, &str)>| match (a, b) {
                (Some(a), Some(b)) => a == b,
                _ => true,
            };
        match (self, other) {
            (KeyRef::Key { id: a, arn: x }, KeyRef::Key { id: b, arn: y }) => {
                a.eq_ignore_ascii_case(b) && same_place(x, y)
            }
            (KeyRef::Alias { name: a, arn: x }, KeyRef::Alias { name: b, arn: y }) => {
                a == b && same_place(x, y)
            }
            (KeyRef::Alias { .. }, KeyRef::Key { .. }) => true,
            (KeyRef::Key { .. }, KeyRef::Alias { .. }) => false,
        }
    }
}

/// Whether the key `want` (as configured) and the `KeyId` Kinesis reports name the same key;
/// a reported value kstream cannot parse is a different key.
pub fn same_key(want: &str, reported: &str) -> bool {
    match (KeyRef::parse(want), KeyRef::parse(reported)) {
        (Ok(a), Ok(b)) => a.same_as(&b),
        _ => want == reported,
    }
}

/// `1234abcd-12ab-34cd-56ef-1234567890ab` (a UUID) or `mrk-` and 32 hex digits.
fn check_key_id(id: &str) -> Result<(), String> {
    let hex = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_hexdigit());
    let uuid = {
        let groups: Vec<&str> = id.split('-').collect();
        groups.len() == 5
            && groups
                .iter()
                .zip([8, 4, 4, 4, 12])
                .all(|(g, len)| g.len() == len && hex(g))
    };
    let multi_region = id
        .strip_prefix("mrk-")
        .is_some_and(|rest| rest.len() == 32 && hex(rest));
    if uuid || multi_region {
        Ok(())
    } else {
        Err(format!(
            "a key ID must be a UUID like `1234abcd-12ab-34cd-56ef-1234567890ab` or `mrk-` and 32 hex digits, got `{id}`"
        ))
    }
}

/// An alias name after `alias/`: 1 to 250 of `[A-Za-z0-9/_-]`; `aws/` names only the
/// AWS-managed keys, and the only one Kinesis can use is `aws/kinesis`.
fn check_alias(name: &str) -> Result<(), String> {
    if name.is_empty() || name.len() > 250 {
        return Err(format!(
            "an alias name must be 1 to 250 characters after `alias/`, got {}",
            name.len()
        ));
    }
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || "/_-".contains(*c)))
    {
        return Err(format!(
            "an alias name must contain only ASCII letters, digits, `/`, `_` and `-`, got `{c}`"
        ));
    }
    if name.starts_with("aws/") && name != "aws/kinesis" {
        return Err(format!(
            "`alias/{name}` is another service's AWS-managed key; the AWS-managed key of Kinesis is `{AWS_MANAGED_KINESIS_KEY}`"
        ));
    }
    Ok(())
}

/// One IAM statement allowing `action` (`kms:Decrypt` for a reader, `kms:GenerateDataKey` for
/// a writer) on the stream's customer-managed key `key`, only for this stream's records
/// through Kinesis: the encryption context Kinesis passes to KMS is the stream's ARN. A key
/// given by ID or ARN is the resource itself; a key given by alias is any key of the alias's
/// account and region that carries the alias (`kms:ResourceAliases`), since an alias ARN
/// cannot be the resource of a key operation. `place` is `(partition, region, account)` for a
/// key not given as an ARN. `DescribeKey` carries no encryption context: pass `records =
/// false` to leave that condition out.
pub fn stream_key_statement(
    sid: &str,
    action: &str,
    key: &str,
    stream_arn: &str,
    place: (&str, &str, &str),
    records: bool,
) -> Value {
    let mut condition = serde_json::Map::new();
    if records {
        condition.insert(
            "StringEquals".into(),
            json!({ "kms:EncryptionContext:aws:kinesis:arn": stream_arn }),
        );
    }
    let resource = match KeyRef::parse(key) {
        Ok(KeyRef::Alias { name, arn }) => {
            let (p, r, a) = arn.unwrap_or(place);
            condition.insert(
                "ForAnyValue:StringEquals".into(),
                json!({ "kms:ResourceAliases": format!("alias/{name}") }),
            );
            format!("arn:{p}:kms:{r}:{a}:key/*")
        }
        Ok(KeyRef::Key { id, arn }) => {
            let (p, r, a) = arn.unwrap_or(place);
            format!("arn:{p}:kms:{r}:{a}:key/{id}")
        }
        // The config checked the shape; an unparsable key still gets the narrowest grant.
        Err(_) => key.to_string(),
    };
    let mut statement = json!({
        "Sid": sid,
        "Effect": "Allow",
        "Action": [action],
        "Resource": [resource],
    });
    if !condition.is_empty() {
        statement["Condition"] = Value::Object(condition);
    }
    statement
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "1234abcd-12ab-34cd-56ef-1234567890ab";

    #[test]
    fn every_documented_shape_parses() {
        let key_arn = format!("arn:aws:kms:us-east-1:123456789012:key/{ID}");
        for ok in [
            ID,
            "mrk-1234abcd12ab34cd56ef1234567890ab",
            key_arn.as_str(),
            "alias/aws/kinesis",
            "alias/my-key_1",
            "arn:aws:kms:us-east-1:123456789012:alias/my-key",
            "arn:aws-cn:kms:cn-north-1:123456789012:alias/my-key",
        ] {
            assert!(KeyRef::parse(ok).is_ok(), "{ok}: {:?}", KeyRef::parse(ok));
        }
        for bad in [
            "",
            "alias/",
            "alias/a b",
            "alias/aws/s3",
            "1234",
            "my-key",
            "arn:aws:kms:us-east-1:123456789012:key/nope",
            "arn:aws:s3:::bucket",
            "arn:aws:kms:us-east-1:1234:alias/x",
            "arn:aws:kms::123456789012:alias/x",
            "arn:aws:kms:us-east-1:123456789012:grant/x",
        ] {
            assert!(KeyRef::parse(bad).is_err(), "{bad} should be refused");
        }
    }

    #[test]
    fn the_aws_managed_key_in_both_spellings() {
        assert!(
            KeyRef::parse(AWS_MANAGED_KINESIS_KEY)
                .unwrap()
                .is_aws_managed()
        );
        assert!(
            KeyRef::parse("arn:aws:kms:us-east-1:123456789012:alias/aws/kinesis")
                .unwrap()
                .is_aws_managed()
        );
        assert!(!KeyRef::parse(ID).unwrap().is_aws_managed());
        assert!(!KeyRef::parse("alias/kinesis").unwrap().is_aws_managed());
    }

    #[test]
    fn keys_compare_across_spellings() {
        let key_arn = format!("arn:aws:kms:us-east-1:123456789012:key/{ID}");
        let alias_arn = "arn:aws:kms:us-east-1:123456789012:alias/aws/kinesis";
        // Same key, other spelling.
        assert!(same_key(ID, &key_arn));
        assert!(same_key(&key_arn, &ID.to_uppercase()));
        assert!(same_key(AWS_MANAGED_KINESIS_KEY, alias_arn));
        // A wanted alias against a reported key ARN cannot be resolved without KMS: not a
        // change. A wanted key against a reported alias is one.
        assert!(same_key(AWS_MANAGED_KINESIS_KEY, &key_arn));
        assert!(!same_key(&key_arn, AWS_MANAGED_KINESIS_KEY));
        assert!(!same_key(ID, "alias/orders"));
        // Different keys, different aliases, different accounts.
        assert!(!same_key(ID, "5678abcd-12ab-34cd-56ef-1234567890ab"));
        assert!(!same_key("alias/a", "alias/b"));
        assert!(!same_key(
            &key_arn,
            &format!("arn:aws:kms:us-east-1:210987654321:key/{ID}")
        ));
        assert!(!same_key(AWS_MANAGED_KINESIS_KEY, "garbage"));
    }
}
