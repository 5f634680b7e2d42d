//! Connection profiles: what the connect form saves in localStorage and exports as JSON.
//! The password is kept only when the user ticked "remember".

use serde::{Deserialize, Serialize};

/// localStorage key of the current profile.
pub const STORAGE_KEY: &str = "mqtt-web.profile";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Profile {
    pub broker_url: String,
    pub client_id: String,
    pub username: String,
    /// Present only when `remember_password` is set.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
    pub remember_password: bool,
    pub keepalive_secs: u16,
    pub clean_session: bool,
    pub will_topic: String,
    pub will_payload: String,
    pub will_qos: u8,
    pub will_retain: bool,
    pub subscriptions: Vec<SavedSubscription>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SavedSubscription {
    pub filter: String,
    pub qos: u8,
}

impl Default for Profile {
    fn default() -> Self {
        Profile {
            broker_url: String::new(),
            client_id: String::new(),
            username: String::new(),
            password: None,
            remember_password: false,
            keepalive_secs: 60,
            clean_session: true,
            will_topic: String::new(),
            will_payload: String::new(),
            will_qos: 0,
            will_retain: false,
            subscriptions: Vec::new(),
        }
    }
}

impl Profile {
    /// JSON for storage or export; drops the password unless it is to be remembered.
    pub fn to_json(&self) -> String {
        let mut copy = self.clone();
        if !copy.remember_password {
            copy.password = None;
        }
        serde_json::to_string_pretty(&copy).unwrap_or_default()
    }

    /// Reads a stored or imported profile; the error says what is wrong with the file.
    pub fn from_json(text: &str) -> Result<Profile, String> {
        let mut profile: Profile =
            serde_json::from_str(text).map_err(|e| format!("not a profile file: {e}"))?;
        if !profile.remember_password {
            profile.password = None;
        }
        profile.will_qos = profile.will_qos.min(2);
        profile
            .subscriptions
            .retain(|s| crate::mqtt::topic::validate_filter(&s.filter).is_ok());
        for sub in &mut profile.subscriptions {
            sub.qos = sub.qos.min(2);
        }
        Ok(profile)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Profile {
        Profile {
            broker_url: "ws://127.0.0.1:9001/mqtt".into(),
            client_id: "me".into(),
            username: "alice".into(),
            password: Some("s3cret".into()),
            subscriptions: vec![SavedSubscription {
                filter: "a/#".into(),
                qos: 1,
            }],
            ..Profile::default()
        }
    }

    #[test]
    fn the_password_is_not_stored_unless_remember_is_ticked() {
        let json = sample().to_json();
        assert!(!json.contains("s3cret"), "{json}");
        let back = Profile::from_json(&json).unwrap();
        assert_eq!(back.password, None);
        assert_eq!(back.subscriptions, sample().subscriptions);
    }

    #[test]
    fn a_remembered_password_round_trips() {
        let profile = Profile {
            remember_password: true,
            ..sample()
        };
        assert_eq!(Profile::from_json(&profile.to_json()).unwrap(), profile);
    }

    #[test]
    fn an_imported_file_is_checked_and_cleaned() {
        assert!(Profile::from_json("[1,2]")
            .unwrap_err()
            .starts_with("not a profile file"));
        let text = r##"{"password":"x","will_qos":7,"subscriptions":[{"filter":"a/#/b","qos":1},{"filter":"ok/+","qos":9}]}"##;
        let profile = Profile::from_json(text).unwrap();
        assert_eq!(
            profile.password, None,
            "a password without remember is dropped"
        );
        assert_eq!(profile.will_qos, 2);
        assert_eq!(
            profile.subscriptions,
            vec![SavedSubscription {
                filter: "ok/+".into(),
                qos: 2
            }]
        );
        assert_eq!(profile.keepalive_secs, 60, "missing fields take defaults");
    }
}
