//! The container files, checked where no Docker engine runs: the compose file parses into the
//! production shape (PostgreSQL, Redis, two instances behind a balancer), the image builds
//! with the same command CI builds with, copies only what exists, and runs as a non-root user.

use std::path::Path;

fn read(path: &str) -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(path)).unwrap()
}

#[test]
fn the_compose_file_has_postgres_redis_and_two_instances_sharing_them() {
    let compose: serde_json::Value = serde_saphyr::from_str(&read("docker/docker-compose.yml")).unwrap();
    let services = compose["services"].as_object().unwrap();
    for name in ["postgres", "redis", "teduh-1", "teduh-2", "proxy"] {
        assert!(services.contains_key(name), "service {name} missing");
    }
    for name in ["teduh-1", "teduh-2"] {
        let env = &services[name]["environment"];
        assert_eq!(env["DATABASE_URL"], "postgres://teduh:teduh@postgres:5432/teduh", "{name}");
        assert_eq!(env["REDIS_URL"], "redis://redis:6379", "{name}");
        assert!(
            env["TEDUH_KEYS"].as_str().unwrap().contains("TEDUH_KEYS"),
            "{name} takes the keys from outside"
        );
        assert_eq!(services[name]["build"]["dockerfile"], "docker/Dockerfile");
        assert_eq!(services[name]["depends_on"]["postgres"]["condition"], "service_healthy");
    }
    let nginx = read("docker/nginx.conf");
    assert!(nginx.contains("server teduh-1:8080") && nginx.contains("server teduh-2:8080"));
    assert!(nginx.contains("client_max_body_size 256k"), "the balancer allows the webhook body limit");
}

#[test]
fn the_image_builds_like_ci_copies_what_exists_and_runs_unprivileged() {
    let dockerfile = read("docker/Dockerfile");
    let ci = read(".ci/run");
    let build = "cargo build --release --locked";
    assert!(dockerfile.contains(build) && ci.contains(build), "the image and CI build the same way");
    for line in dockerfile.lines().filter(|l| l.starts_with("COPY ") && !l.contains("--from")) {
        let parts: Vec<&str> = line.split_whitespace().collect();
        for source in &parts[1..parts.len() - 1] {
            assert!(
                Path::new(env!("CARGO_MANIFEST_DIR")).join(source).exists(),
                "COPY {source}: not in the repository"
            );
        }
    }
    let user = dockerfile.lines().rev().find_map(|l| l.strip_prefix("USER ")).unwrap();
    assert_ne!(user.trim(), "root");
    assert!(dockerfile.contains("HEALTHCHECK") && dockerfile.contains("/healthz"));
    assert!(dockerfile.contains("CMD [\"serve\"]"));
    let ignored = read(".dockerignore");
    assert!(ignored.lines().any(|l| l.trim() == "target"), "the build context leaves target/ out");
}
