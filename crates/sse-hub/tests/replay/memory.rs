//! The suite and hub replay tests against `MemoryReplayer`.

use crate::common::{Kind, Stores};
use crate::{hub, suite};

#[tokio::test]
async fn suite_memory() {
    let stores = Stores::new();
    suite::run_suite(
        |max_events| stores.make(Kind::Memory, max_events, suite::HOUR),
        true,
    )
    .await;
}

#[test]
fn proptest_memory() {
    suite::run_proptest(Kind::Memory, 256, true);
}

#[tokio::test]
async fn tenants_memory() {
    hub::tenants_replay_only_their_own(Kind::Memory).await;
}

#[tokio::test]
async fn resync_memory() {
    hub::unknown_or_expired_ids_resync(Kind::Memory).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn race_memory() {
    hub::reconnect_race_loses_and_duplicates_nothing(Kind::Memory).await;
}
