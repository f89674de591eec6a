//! `save_login` / `remove_login` on Docker's config.json, and a client that
//! finds its credentials there. A binary of its own: it sets DOCKER_CONFIG,
//! which the whole process sees.

mod common;

use std::os::unix::fs::PermissionsExt;

use common::*;
use hoist_registry::credentials::{remove_login, save_login};
use hoist_registry::{ClientOptions, RegistryError};
use hoist_store::Store;
use hoist_testkit::{RegistryAuth, RegistryOptions, RegistryServer};

#[test]
fn login_file_and_credentials_from_it() {
    let dir = tempfile::tempdir().unwrap();
    let config_dir = dir.path().join("docker");
    // Before any other thread exists: set_var is only sound single-threaded.
    unsafe { std::env::set_var("DOCKER_CONFIG", &config_dir) };
    std::fs::create_dir(&config_dir).unwrap();
    let config = config_dir.join("config.json");
    std::fs::write(
        &config,
        r#"{"auths":{"other.io":{"auth":"eDp5"}},"credHelpers":{"gcr.io":"gcloud"},"psFormat":"x"}"#,
    )
    .unwrap();

    let auth = RegistryAuth::Basic { user: "alice".into(), password: "correct-horse".into() };
    let registry = RegistryServer::start(RegistryOptions { auth, tls: false });
    let host = registry.host();

    assert_eq!(save_login(&host, "alice", "correct-horse").unwrap(), config);
    let mode = std::fs::metadata(&config).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let written: serde_json::Value = serde_json::from_slice(&std::fs::read(&config).unwrap()).unwrap();
    assert_eq!(written["auths"]["other.io"]["auth"], "eDp5");
    assert_eq!(written["credHelpers"]["gcr.io"], "gcloud");
    assert_eq!(written["psFormat"], "x");
    assert_eq!(written["auths"][&host]["auth"], "YWxpY2U6Y29ycmVjdC1ob3JzZQ==");

    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let client = client(ClientOptions::default());
        client.check_login(&host).await.unwrap();
        let store = Store::new(dir.path().join("store"));
        let root = artifact(&store, "m:1", &[pseudo_random(1000, 1)]);
        push(&store, &client.repository(&host, "m"), &root, "1").await;
    });

    assert!(remove_login(&host).unwrap());
    assert!(!remove_login(&host).unwrap());
    let written: serde_json::Value = serde_json::from_slice(&std::fs::read(&config).unwrap()).unwrap();
    assert!(written["auths"].get(&host).is_none());
    assert_eq!(written["auths"]["other.io"]["auth"], "eDp5");

    runtime.block_on(async {
        let error = client(ClientOptions::default()).check_login(&host).await.unwrap_err();
        assert!(matches!(error, RegistryError::Unauthorized { .. }), "{error}");
    });

    drop(runtime);
    // A login into a new directory creates it 0700 and the file 0600.
    let fresh = dir.path().join("fresh");
    unsafe { std::env::set_var("DOCKER_CONFIG", &fresh) };
    save_login("r.example.com", "u", "p").unwrap();
    assert_eq!(std::fs::metadata(&fresh).unwrap().permissions().mode() & 0o777, 0o700);
    assert_eq!(std::fs::metadata(fresh.join("config.json")).unwrap().permissions().mode() & 0o777, 0o600);
}
