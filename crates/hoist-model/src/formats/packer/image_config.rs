//! The image config of a model image as gguf-packer writes it: an ordinary OCI
//! image config (`rootfs`, `history`, `config.Cmd`, `config.Labels`), so container
//! runtimes and Kubernetes image volumes take it, and gguf-packer and hoist read
//! the command from it; plus `config.Model`, `Drafter`, `Projector` and `Adapters`,
//! the facts of the GGUF files CMD names ([`GgufFacts`]). gguf-packer also embeds
//! its parser's whole dump of each file under `GGUF`; hoist leaves that out (its
//! readers take the header from the layer itself).
//!
//! The build engine writes it; the readers beside it (the stored command, the
//! GGUF files in tar layers) read the same image.

use std::collections::BTreeMap;

use serde_json::{Value, json};

/// One `history` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct History {
    pub created_by: String,
    /// True for instructions that make no layer (LABEL, CMD).
    pub empty_layer: bool,
}

/// What gguf-packer records about a GGUF file CMD names (its `GGUFFile`, without
/// the embedded parser dump).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct GgufFacts {
    pub architecture: String,
    pub parameters: u64,
    pub bits_per_weight: f64,
    /// llama.cpp's name (`Q4_K_M`), for labels.
    pub file_type: String,
    /// `general.file_type`, written as the number gguf-packer's readers expect.
    pub file_type_id: Option<u64>,
    /// The CMD argument that names the file, and its index in CMD.
    pub cmd_value: String,
    pub cmd_index: usize,
}

impl GgufFacts {
    fn to_json(&self) -> Value {
        let mut m = serde_json::Map::new();
        m.insert("Architecture".into(), json!(self.architecture));
        m.insert("BitsPerWeight".into(), json!(self.bits_per_weight));
        m.insert("CmdParameterIndex".into(), json!(self.cmd_index));
        m.insert("CmdParameterValue".into(), json!(self.cmd_value));
        if let Some(id) = self.file_type_id {
            m.insert("FileType".into(), json!(id));
        }
        m.insert("Parameters".into(), json!(self.parameters));
        Value::Object(m)
    }
}

/// What the config records.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ImageConfig {
    /// RFC 3339.
    pub created: String,
    pub os: String,
    pub architecture: String,
    pub cmd: Vec<String>,
    pub labels: BTreeMap<String, String>,
    /// The layers' diff IDs (`sha256:...` of the uncompressed tars), bottom first.
    pub diff_ids: Vec<String>,
    pub history: Vec<History>,
    /// The files CMD names: `Model`, `Drafter`, `Projector`, `Adapters`.
    pub model: Option<GgufFacts>,
    pub drafter: Option<GgufFacts>,
    pub projector: Option<GgufFacts>,
    pub adapters: Vec<GgufFacts>,
    /// The base image's config, when the stage starts from an image: its other
    /// fields (Env, Entrypoint, WorkingDir, ...) and history are kept.
    pub base: Option<Value>,
}

impl ImageConfig {
    /// The config's bytes: compact JSON with keys in order, so equal configs have
    /// equal digests.
    pub fn to_json(&self) -> Vec<u8> {
        let base = match &self.base {
            Some(Value::Object(m)) => m.clone(),
            _ => serde_json::Map::new(),
        };
        let mut config = match base.get("config") {
            Some(Value::Object(c)) => c.clone(),
            _ => serde_json::Map::new(),
        };
        // What this build decides replaces what the base said; the base's model
        // facts stay only while its CMD does and nothing newer was read.
        let base_cmd = config.remove("Cmd");
        config.remove("Labels");
        let ours = self.model.is_some() || self.drafter.is_some() || self.projector.is_some();
        if ours || !self.adapters.is_empty() || base_cmd != Some(json!(self.cmd)) {
            for key in ["Model", "Drafter", "Projector", "Adapters"] {
                config.remove(key);
            }
        }
        if !self.cmd.is_empty() {
            config.insert("Cmd".into(), json!(self.cmd));
        }
        if !self.labels.is_empty() {
            config.insert("Labels".into(), json!(self.labels));
        }
        for (key, facts) in [("Model", &self.model), ("Drafter", &self.drafter), ("Projector", &self.projector)] {
            if let Some(f) = facts {
                config.insert(key.into(), sorted(f.to_json()));
            }
        }
        if !self.adapters.is_empty() {
            let list: Vec<Value> = self.adapters.iter().map(|f| sorted(f.to_json())).collect();
            config.insert("Adapters".into(), Value::Array(list));
        }
        let mut history: Vec<Value> = match base.get("history") {
            Some(Value::Array(h)) => h.clone(),
            _ => Vec::new(),
        };
        history.extend(self.history.iter().map(|h| {
            let mut e = serde_json::Map::new();
            e.insert("created".into(), json!(self.created));
            e.insert("created_by".into(), json!(h.created_by));
            e.insert("comment".into(), json!("hoist build"));
            if h.empty_layer {
                e.insert("empty_layer".into(), json!(true));
            }
            Value::Object(sort(e))
        }));
        let mut top = base;
        top.insert("architecture".into(), json!(self.architecture));
        top.insert("config".into(), Value::Object(sort(config)));
        top.insert("created".into(), json!(self.created));
        top.insert("history".into(), json!(history));
        top.insert("os".into(), json!(self.os));
        top.insert("rootfs".into(), json!({"diff_ids": self.diff_ids, "type": "layers"}));
        serde_json::to_vec(&Value::Object(sort(top))).unwrap_or_default()
    }
}

fn sorted(v: Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(sort(m)),
        other => other,
    }
}

/// Keys in order whatever serde_json's map keeps.
fn sort(map: serde_json::Map<String, Value>) -> serde_json::Map<String, Value> {
    let sorted: BTreeMap<String, Value> = map.into_iter().collect();
    sorted.into_iter().collect()
}

/// `seconds` since the epoch as RFC 3339 (`1970-01-01T00:00:00Z`).
pub fn rfc3339(seconds: u64) -> String {
    let time = std::time::UNIX_EPOCH + std::time::Duration::from_secs(seconds);
    humantime::format_rfc3339_seconds(time).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(1_700_000_000), "2023-11-14T22:13:20Z");
        assert_eq!(rfc3339(4_102_444_799), "2099-12-31T23:59:59Z");
    }

    #[test]
    fn config_json() {
        let c = ImageConfig {
            created: rfc3339(0),
            os: "linux".into(),
            architecture: "amd64".into(),
            cmd: vec!["-m".into(), "m.gguf".into()],
            labels: [("b".to_string(), "2".to_string()), ("a".to_string(), "1".to_string())].into(),
            diff_ids: vec!["sha256:00".into()],
            history: vec![
                History { created_by: "COPY m.gguf /".into(), empty_layer: false },
                History { created_by: "CMD [\"-m\"]".into(), empty_layer: true },
            ],
            ..ImageConfig::default()
        };
        let text = String::from_utf8(c.to_json()).unwrap();
        assert_eq!(
            text,
            concat!(
                r#"{"architecture":"amd64","config":{"Cmd":["-m","m.gguf"],"Labels":{"a":"1","b":"2"}},"#,
                r#""created":"1970-01-01T00:00:00Z","history":["#,
                r#"{"comment":"hoist build","created":"1970-01-01T00:00:00Z","created_by":"COPY m.gguf /"},"#,
                r#"{"comment":"hoist build","created":"1970-01-01T00:00:00Z","created_by":"CMD [\"-m\"]","empty_layer":true}],"#,
                r#""os":"linux","rootfs":{"diff_ids":["sha256:00"],"type":"layers"}}"#
            )
        );
        let with_model = ImageConfig {
            model: Some(GgufFacts {
                architecture: "llama".into(),
                parameters: 512,
                bits_per_weight: 8.5,
                file_type: "Q8_0".into(),
                file_type_id: Some(7),
                cmd_value: "m.gguf".into(),
                cmd_index: 1,
            }),
            ..c
        };
        let v: Value = serde_json::from_slice(&with_model.to_json()).unwrap();
        assert_eq!(
            v["config"]["Model"],
            json!({"Architecture": "llama", "BitsPerWeight": 8.5, "CmdParameterIndex": 1,
                   "CmdParameterValue": "m.gguf", "FileType": 7, "Parameters": 512})
        );
    }
}
