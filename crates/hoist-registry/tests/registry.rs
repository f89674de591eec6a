//! The registry client against a real registry (CNCF distribution, started by
//! hoist-testkit): push, pull, HEAD-skip, mount, auth, TLS, corrupt blobs.

mod common;

use common::*;
use futures_util::StreamExt;
use hoist_oci::{Destination, ImageManifest, Source, TargetError};
use hoist_registry::{ClientOptions, RegistryError};
use hoist_store::{Store, StoreDestination};
use hoist_testkit::{RegistryAuth, RegistryOptions, RegistryServer, TokenUser};

#[tokio::test(flavor = "multi_thread")]
async fn push_pull_round_trip_and_second_push_uploads_nothing() {
    let registry = RegistryServer::anonymous();
    let dir = tempfile::tempdir().unwrap();
    let store = Store::new(dir.path().join("a"));
    let layers = [pseudo_random(100_000, 1), pseudo_random(3_000, 2)];
    let root = artifact(&store, "m:1", &layers);
    let repository = anonymous_client().repository(&registry.host(), "team/m");

    let report = push(&store, &repository, &root, "1").await;
    let manifest = ImageManifest::from_slice(&blob(&store, &root)).unwrap();
    let total = manifest.config.size + 103_000;
    assert_eq!(load(&report), (3, total, 0, 0), "{}", registry.log_tail());

    let (pulled, pulled_root) = pull(&repository, "1", &dir.path().join("b")).await;
    assert_eq!(pulled_root.digest, root.digest);
    assert_eq!(pulled_root.size, root.size);
    assert_eq!(pulled_root.media_type, root.media_type);
    assert_eq!(blob(&pulled, &root), blob(&store, &root), "manifest bytes differ");
    for (layer, bytes) in manifest.layers.iter().zip(&layers) {
        assert_eq!(&blob(&pulled, layer), bytes);
    }
    assert_eq!(pulled.resolve("team/m:1").unwrap().descriptor.digest, root.digest);
    assert_eq!(blob(&pulled, &manifest.config), blob(&store, &manifest.config));

    // By digest too, and a ranged read from an offset.
    assert_eq!(repository.resolve(&root.digest.to_string()).await.unwrap().digest, root.digest);
    let mut stream = repository.fetch(&manifest.layers[0], 99_990).await.unwrap();
    let mut tail = Vec::new();
    while let Some(chunk) = stream.next().await {
        tail.extend_from_slice(&chunk.unwrap());
    }
    assert_eq!(tail, layers[0][99_990..]);

    let again = push(&store, &repository, &root, "1").await;
    assert_eq!(load(&again).0, 0, "blobs copied on the second push");
    assert_eq!(load(&again).1, 0, "bytes copied on the second push");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_50_mb_layer_streams_both_ways() {
    let registry = RegistryServer::anonymous();
    let dir = tempfile::tempdir().unwrap();
    let store = Store::new(dir.path().join("a"));
    let big = pseudo_random(50 * 1024 * 1024, 7);
    let root = artifact(&store, "big:1", std::slice::from_ref(&big));
    let repository = anonymous_client().repository(&registry.host(), "big");
    let report = push(&store, &repository, &root, "1").await;
    let manifest = ImageManifest::from_slice(&blob(&store, &root)).unwrap();
    assert_eq!(load(&report).1, big.len() as u64 + manifest.config.size);
    let (pulled, _) = pull(&repository, "1", &dir.path().join("b")).await;
    assert!(blob(&pulled, &manifest.layers[0]) == big);
}

#[tokio::test(flavor = "multi_thread")]
async fn missing_tags_and_blobs_are_not_found() {
    let registry = RegistryServer::anonymous();
    let repository = anonymous_client().repository(&registry.host(), "nothing/here");
    assert!(matches!(repository.resolve("nope").await, Err(TargetError::NotFound { .. })));
    let absent = hoist_oci::Descriptor::for_bytes(LAYER_TYPE, b"absent");
    assert!(!Destination::exists(&repository, &absent).await.unwrap());
    assert!(matches!(repository.fetch_all(&absent).await, Err(TargetError::NotFound { .. })));
}

#[tokio::test(flavor = "multi_thread")]
async fn basic_auth_and_secrets_stay_out_of_errors() {
    let auth = RegistryAuth::Basic { user: "alice".into(), password: "correct-horse".into() };
    let registry = RegistryServer::start(RegistryOptions { auth, tls: false });
    let dir = tempfile::tempdir().unwrap();
    let store = Store::new(dir.path().join("a"));
    let root = artifact(&store, "m:1", &[pseudo_random(1000, 3)]);

    let good =
        client(ClientOptions { credentials: Some(("alice".into(), "correct-horse".into())), ..Default::default() });
    good.check_login(&registry.host()).await.unwrap();
    let repository = good.repository(&registry.host(), "m");
    push(&store, &repository, &root, "1").await;
    pull(&repository, "1", &dir.path().join("b")).await;

    let password = "wrong-battery";
    let bad = client(ClientOptions { credentials: Some(("alice".into(), password.into())), ..Default::default() });
    let error = bad.check_login(&registry.host()).await.unwrap_err();
    assert!(matches!(error, RegistryError::Unauthorized { .. }), "{error}");
    let repository = bad.repository(&registry.host(), "m");
    let error = repository.resolve("1").await.unwrap_err();
    let shown =
        format!("{error} {:?} {}", error, std::error::Error::source(&error).map(|s| s.to_string()).unwrap_or_default());
    assert!(shown.contains("401") || shown.contains("UNAUTHORIZED"), "{shown}");
    assert!(shown.contains(&registry.host()), "{shown}");
    assert!(!shown.contains(password), "{shown}");
    assert!(!shown.contains("Basic YWxpY2U"), "{shown}");
}

#[tokio::test(flavor = "multi_thread")]
async fn token_auth_push_pull_scopes_and_cache() {
    let users = vec![TokenUser::new("alice", "alice-pw", &["*"], &["*"]), TokenUser::new("bob", "bob-pw", &["*"], &[])];
    let registry = RegistryServer::start(RegistryOptions { auth: RegistryAuth::Token { users }, tls: false });
    let dir = tempfile::tempdir().unwrap();
    let store = Store::new(dir.path().join("a"));
    let root = artifact(&store, "m:1", &[pseudo_random(5000, 4), pseudo_random(6000, 5)]);

    let alice = client(ClientOptions { credentials: Some(("alice".into(), "alice-pw".into())), ..Default::default() });
    let repository = alice.repository(&registry.host(), "team/m");
    let before = registry.token_requests();
    let report = push(&store, &repository, &root, "1").await;
    assert_eq!(load(&report).0, 3);
    let tokens = registry.token_requests() - before;
    assert!((1..=3).contains(&tokens), "{tokens} tokens for one push of 3 blobs");

    let bob = client(ClientOptions { credentials: Some(("bob".into(), "bob-pw".into())), ..Default::default() });
    let bob_repository = bob.repository(&registry.host(), "team/m");
    pull(&bob_repository, "1", &dir.path().join("b")).await;

    let other = artifact(&store, "n:1", &[pseudo_random(700, 6)]);
    let denied = bob.repository(&registry.host(), "team/n");
    let error =
        hoist_oci::copy_graph(&store, &denied, &other, Some("1"), &Default::default(), &hoist_oci::NoTransferReporter)
            .await
            .unwrap_err();
    let shown = format!("{error}: {}", std::error::Error::source(&error).map(|s| s.to_string()).unwrap_or_default());
    assert!(shown.contains("DENIED") || shown.contains("UNAUTHORIZED") || shown.contains("401"), "{shown}");
    assert!(!shown.contains("bob-pw") && !shown.contains("Bearer"), "{shown}");
}

#[tokio::test(flavor = "multi_thread")]
async fn tls_with_ca_file_without_it_and_insecure() {
    let registry = RegistryServer::start(RegistryOptions { auth: RegistryAuth::Anonymous, tls: true });
    let dir = tempfile::tempdir().unwrap();
    let store = Store::new(dir.path().join("a"));
    let root = artifact(&store, "m:1", &[pseudo_random(2000, 8)]);

    let ca_file = Some(registry.ca_cert_path().unwrap().to_path_buf());
    let trusted = client(ClientOptions { ca_file, ..Default::default() });
    push(&store, &trusted.repository(&registry.host(), "m"), &root, "1").await;

    let untrusted = anonymous_client().repository(&registry.host(), "m");
    let error = untrusted.resolve("1").await.unwrap_err();
    let shown = format!("{error}: {}", std::error::Error::source(&error).map(|s| s.to_string()).unwrap_or_default());
    assert!(shown.to_lowercase().contains("certificate"), "{shown}");

    let insecure = client(ClientOptions { insecure: true, ..Default::default() }).repository(&registry.host(), "m");
    assert_eq!(insecure.resolve("1").await.unwrap().digest, root.digest);
}

#[tokio::test(flavor = "multi_thread")]
async fn copy_between_repositories_of_one_registry_mounts() {
    let users = vec![TokenUser::new("alice", "alice-pw", &["*"], &["*"])];
    let registry = RegistryServer::start(RegistryOptions { auth: RegistryAuth::Token { users }, tls: false });
    let dir = tempfile::tempdir().unwrap();
    let store = Store::new(dir.path().join("a"));
    let root = artifact(&store, "m:1", &[pseudo_random(4000, 9), pseudo_random(4100, 10)]);
    let alice = client(ClientOptions { credentials: Some(("alice".into(), "alice-pw".into())), ..Default::default() });
    let a = alice.repository(&registry.host(), "a/m");
    let b = alice.repository(&registry.host(), "b/m");
    push(&store, &a, &root, "1").await;

    let report = copy(&a, &b, &root, "1").await;
    let (copied, bytes, _, mounted) = load(&report);
    assert_eq!((copied, bytes, mounted), (0, 0, 3), "{}", registry.log_tail());
    assert_eq!(b.resolve("1").await.unwrap().digest, root.digest);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_corrupt_blob_is_never_committed() {
    let registry = RegistryServer::anonymous();
    let dir = tempfile::tempdir().unwrap();
    let store = Store::new(dir.path().join("a"));
    let layer = pseudo_random(10_000, 11);
    let root = artifact(&store, "m:1", std::slice::from_ref(&layer));
    let repository = anonymous_client().repository(&registry.host(), "m");
    push(&store, &repository, &root, "1").await;

    let manifest = ImageManifest::from_slice(&blob(&store, &root)).unwrap();
    let digest = &manifest.layers[0].digest;
    let hex = digest.hex();
    let data = registry.storage_dir().join(format!("docker/registry/v2/blobs/sha256/{}/{hex}/data", &hex[..2]));
    let mut corrupt = layer.clone();
    corrupt[5000] ^= 0xff;
    std::fs::write(&data, &corrupt).unwrap();

    let target = Store::new(dir.path().join("b"));
    let destination = StoreDestination::new(&target).unwrap();
    let error = hoist_oci::copy_graph(
        &repository,
        &destination,
        &root,
        None,
        &Default::default(),
        &hoist_oci::NoTransferReporter,
    )
    .await
    .unwrap_err();
    drop(destination);
    match &error {
        TargetError::Verification { digest: named, .. } => assert_eq!(named, digest),
        other => panic!("expected a verification error, got {other}"),
    }
    assert!(error.to_string().contains(&digest.to_string()), "{error}");
    assert!(!target.has_blob(digest));
    let ingest: Vec<_> = std::fs::read_dir(target.root().join("ingest")).map(|d| d.collect()).unwrap_or_default();
    assert!(ingest.is_empty(), "ingest/ holds {ingest:?}");
}
