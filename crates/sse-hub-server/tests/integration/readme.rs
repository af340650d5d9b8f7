//! The README's token recipes work against the server.

use serde_json::json;

use crate::common::{Server, Sse};

/// The `sh` block after `marker` in the workspace README.
fn readme_block(marker: &str) -> String {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md")).unwrap();
    let after = &readme[readme.find(marker).expect("marker in README")..];
    let start = after.find("```sh\n").unwrap() + "```sh\n".len();
    after[start..][..after[start..].find("```").unwrap()].to_owned()
}

#[tokio::test]
async fn the_shell_one_liner_mints_a_token_the_server_accepts() {
    let secret = "0123456789abcdef0123456789abcdef-readme";
    let script = format!(
        "{}\nprintf %s \"$TOKEN\"",
        readme_block("<!-- mint-token-shell")
    );
    let output = tokio::process::Command::new("bash")
        .arg("-c")
        .arg(&script)
        .env("SECRET", secret)
        .output()
        .await
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let token = String::from_utf8(output.stdout).unwrap();
    assert_eq!(token.split('.').count(), 3, "{token}");
    let server = Server::start(&["--jwt-secret", secret, "--publish-token", "pub"]).await;
    let mut sse = Sse::open(server.events(&["orders.eu"]).bearer_auth(&token)).await;
    assert_eq!(sse.topics, ["orders.eu"]);
    server
        .publish(json!({"topics": ["orders.eu"], "tenant": "acme", "data": "for acme"}))
        .await;
    assert_eq!(
        sse.next().await.data,
        "for acme",
        "the token's tenant is acme"
    );
    // Not granted beyond its patterns.
    let response = server
        .events(&["billing"])
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403);
}
