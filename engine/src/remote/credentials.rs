//! AWS credentials and region, found where the AWS CLI finds them, and never written anywhere:
//! `AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY`/`AWS_SESSION_TOKEN`; else a profile (the
//! remote's `profile`, `AWS_PROFILE`, or `default`) in the shared credentials file
//! (`AWS_SHARED_CREDENTIALS_FILE`, `~/.aws/credentials`) and config file (`AWS_CONFIG_FILE`,
//! `~/.aws/config`), with static keys or a `credential_process`. SSO and assume-role profiles
//! are refused with the one line that makes them work (`credential_process = aws configure
//! export-credentials …`), rather than failing later with an opaque signature error. Container
//! and web-identity credentials (`AWS_CONTAINER_CREDENTIALS_*`, `AWS_WEB_IDENTITY_TOKEN_FILE`)
//! are left to object_store, which reads them itself.

use anyhow::{anyhow, bail, Context, Result};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;

#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    pub access_key_id: String,
    pub secret_access_key: String,
    pub session_token: Option<String>,
    /// Where they came from, for messages (never the secret itself).
    pub source: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Credentials({} from {})", self.access_key_id, self.source)
    }
}

/// What [`resolve`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    /// `None`: object_store's own providers (containers, web identity) are to be used.
    pub credentials: Option<Credentials>,
    /// The profile's `region`, if it has one.
    pub region: Option<String>,
}

/// The environment, as a lookup (a closure in tests).
pub type Env<'a> = &'a dyn Fn(&str) -> Option<String>;

/// Credentials for `profile` (the remote's setting) from the environment `env` and the files.
pub fn resolve(profile: Option<&str>, env: Env) -> Result<Found> {
    let var = |name: &str| env(name).filter(|v| !v.is_empty());
    if profile.is_none() {
        if let (Some(id), Some(secret)) = (var("AWS_ACCESS_KEY_ID"), var("AWS_SECRET_ACCESS_KEY")) {
            let credentials = Credentials {
                access_key_id: id,
                secret_access_key: secret,
                session_token: var("AWS_SESSION_TOKEN"),
                source: "the environment (AWS_ACCESS_KEY_ID)".into(),
            };
            return Ok(Found { credentials: Some(credentials), region: None });
        }
    }
    let named = profile.map(str::to_string).or_else(|| var("AWS_PROFILE"));
    let name = named.clone().unwrap_or_else(|| "default".into());
    let home = var("HOME").map(PathBuf::from).unwrap_or_default();
    let credentials_file = var("AWS_SHARED_CREDENTIALS_FILE")
        .map(PathBuf::from)
        .unwrap_or_else(|| home.join(".aws/credentials"));
    let config_file =
        var("AWS_CONFIG_FILE").map(PathBuf::from).unwrap_or_else(|| home.join(".aws/config"));
    // The config file's section is `[profile NAME]`, except `[default]`.
    let config_section = if name == "default" { name.clone() } else { format!("profile {name}") };
    let mut settings = read_section(&config_file, &config_section)?.unwrap_or_default();
    let from_credentials_file = read_section(&credentials_file, &name)?;
    let found_in_files = from_credentials_file.is_some() || !settings.is_empty();
    settings.extend(from_credentials_file.unwrap_or_default());
    let region = settings.get("region").cloned();
    let source = format!("profile `{name}`");
    let credentials = match (
        settings.get("aws_access_key_id"),
        settings.get("aws_secret_access_key"),
        settings.get("credential_process"),
    ) {
        (Some(id), Some(secret), _) => Some(Credentials {
            access_key_id: id.clone(),
            secret_access_key: secret.clone(),
            session_token: settings.get("aws_session_token").cloned(),
            source: format!("{source} ({})", credentials_file.display()),
        }),
        (_, _, Some(process)) => Some(run_credential_process(process, &source)?),
        _ if settings.contains_key("sso_session") || settings.contains_key("sso_start_url") => {
            bail!(
                "{source} signs in with AWS SSO, which pipeline does not do itself: run \
                 `aws sso login --profile {name}` and add `credential_process = aws configure \
                 export-credentials --profile {name} --format process` to a profile that uses it"
            )
        }
        _ if settings.contains_key("role_arn") => bail!(
            "{source} assumes a role, which pipeline does not do itself: add `credential_process \
             = aws configure export-credentials --profile {name} --format process` to a profile \
             that uses it"
        ),
        _ if found_in_files => bail!(
            "{source} has neither aws_access_key_id and aws_secret_access_key nor a \
             credential_process"
        ),
        _ if named.is_some() => bail!(
            "{source} is in neither {} nor {}",
            credentials_file.display(),
            config_file.display()
        ),
        _ if var("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI").is_some()
            || var("AWS_CONTAINER_CREDENTIALS_FULL_URI").is_some()
            || var("AWS_WEB_IDENTITY_TOKEN_FILE").is_some() =>
        {
            None
        }
        _ => bail!(
            "no AWS credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE \
             to a profile of {} or {}",
            credentials_file.display(),
            config_file.display()
        ),
    };
    Ok(Found { credentials, region })
}

/// The `key = value` lines of `[section]` in an INI file (`None`: no such section or file).
/// Indented lines (a nested block such as `s3 =` settings) and comments are skipped.
fn read_section(path: &std::path::Path, section: &str) -> Result<Option<BTreeMap<String, String>>> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    };
    let mut current: Option<bool> = None;
    let mut found: Option<BTreeMap<String, String>> = None;
    for line in text.lines() {
        if line.starts_with([' ', '\t']) {
            continue;
        }
        let line = line.trim();
        if line.is_empty() || line.starts_with(['#', ';']) {
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            let this = name.trim() == section;
            if this {
                found.get_or_insert_with(BTreeMap::new);
            }
            current = Some(this);
        } else if let (Some(true), Some((key, value))) = (current, line.split_once('=')) {
            let map = found.as_mut().expect("inside the section");
            map.insert(key.trim().to_ascii_lowercase(), value.trim().to_string());
        }
    }
    Ok(found)
}

/// Run a profile's `credential_process` and read the JSON it prints (the AWS CLI's format:
/// `Version` 1, `AccessKeyId`, `SecretAccessKey`, optional `SessionToken`).
fn run_credential_process(command: &str, source: &str) -> Result<Credentials> {
    let out = Command::new("sh")
        .args(["-c", command])
        .output()
        .with_context(|| format!("running the credential_process of {source}"))?;
    if !out.status.success() {
        bail!(
            "the credential_process of {source} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    let json: serde_json::Value = serde_json::from_slice(&out.stdout)
        .with_context(|| format!("the credential_process of {source} printed no JSON"))?;
    let field = |name: &str| json.get(name).and_then(|v| v.as_str()).map(str::to_string);
    if json.get("Version").and_then(|v| v.as_u64()) != Some(1) {
        bail!("the credential_process of {source} printed no `\"Version\": 1`");
    }
    let missing = |name| anyhow!("the credential_process of {source} printed no `{name}`");
    Ok(Credentials {
        access_key_id: field("AccessKeyId").ok_or_else(|| missing("AccessKeyId"))?,
        secret_access_key: field("SecretAccessKey").ok_or_else(|| missing("SecretAccessKey"))?,
        session_token: field("SessionToken"),
        source: format!("{source} (credential_process)"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    /// A home directory with these two files, and an environment with these variables.
    fn setup(
        credentials: &str,
        config: &str,
        vars: &[(&str, &str)],
    ) -> (tempfile::TempDir, HashMap<String, String>) {
        let home = tempfile::tempdir().unwrap();
        std::fs::create_dir(home.path().join(".aws")).unwrap();
        std::fs::write(home.path().join(".aws/credentials"), credentials).unwrap();
        std::fs::write(home.path().join(".aws/config"), config).unwrap();
        let mut env: HashMap<String, String> =
            vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        env.insert("HOME".into(), home.path().display().to_string());
        (home, env)
    }

    fn found(profile: Option<&str>, env: &HashMap<String, String>) -> Result<Found> {
        resolve(profile, &|name| env.get(name).cloned())
    }

    const FILES: (&str, &str) = (
        "[default]\naws_access_key_id = AKDEFAULT\naws_secret_access_key = sdefault\n\n\
         [lab]\n# a comment\naws_access_key_id=AKLAB\naws_secret_access_key=slab\n\
         aws_session_token = tlab\n",
        "[default]\nregion = eu-west-1\n[profile lab]\nregion = us-west-2\ns3 =\n  \
         addressing_style = path\n[profile sso]\nsso_session = corp\n\
         [profile role]\nrole_arn = arn:aws:iam::1:role/x\nsource_profile = default\n\
         [profile process]\ncredential_process = printf '{\"Version\": 1, \"AccessKeyId\": \
         \"AKPROC\", \"SecretAccessKey\": \"sproc\"}'\n[profile broken]\n\
         credential_process = echo nope; exit 3\n",
    );

    #[test]
    fn the_environment_wins_unless_a_profile_is_named() {
        let (_home, env) = setup(
            FILES.0,
            FILES.1,
            &[
                ("AWS_ACCESS_KEY_ID", "AKENV"),
                ("AWS_SECRET_ACCESS_KEY", "senv"),
                ("AWS_PROFILE", "lab"),
            ],
        );
        let got = found(None, &env).unwrap().credentials.unwrap();
        assert_eq!((got.access_key_id.as_str(), got.session_token), ("AKENV", None));
        let got = found(Some("lab"), &env).unwrap();
        let creds = got.credentials.unwrap();
        assert_eq!(creds.access_key_id, "AKLAB");
        assert_eq!(creds.session_token.as_deref(), Some("tlab"));
        assert_eq!(got.region.as_deref(), Some("us-west-2"));
    }

    #[test]
    fn aws_profile_then_default_are_read_from_the_files() {
        let (_home, mut env) = setup(FILES.0, FILES.1, &[("AWS_PROFILE", "lab")]);
        assert_eq!(found(None, &env).unwrap().credentials.unwrap().access_key_id, "AKLAB");
        env.remove("AWS_PROFILE");
        let got = found(None, &env).unwrap();
        assert_eq!(got.credentials.unwrap().access_key_id, "AKDEFAULT");
        assert_eq!(got.region.as_deref(), Some("eu-west-1"));
    }

    #[test]
    fn a_credential_process_is_run_and_its_failure_explained() {
        let (_home, env) = setup(FILES.0, FILES.1, &[]);
        let got = found(Some("process"), &env).unwrap().credentials.unwrap();
        assert_eq!(
            (got.access_key_id.as_str(), got.secret_access_key.as_str()),
            ("AKPROC", "sproc")
        );
        let e = found(Some("broken"), &env).unwrap_err().to_string();
        assert!(e.contains("credential_process of profile `broken` failed"), "{e}");
    }

    #[test]
    fn profiles_it_cannot_use_are_refused_with_what_to_do() {
        let (_home, env) = setup(FILES.0, FILES.1, &[]);
        for (profile, says) in [
            ("sso", "aws sso login --profile sso"),
            ("role", "assumes a role"),
            ("nosuch", "is in neither"),
        ] {
            let e = found(Some(profile), &env).unwrap_err().to_string();
            assert!(e.contains(says), "{profile}: {e}");
        }
        let (_home, env) = setup("", "", &[]);
        let e = found(None, &env).unwrap_err().to_string();
        assert!(e.starts_with("no AWS credentials"), "{e}");
        let (_home, env) = setup("", "", &[("AWS_WEB_IDENTITY_TOKEN_FILE", "/var/run/token")]);
        assert_eq!(found(None, &env).unwrap().credentials, None);
    }
}
