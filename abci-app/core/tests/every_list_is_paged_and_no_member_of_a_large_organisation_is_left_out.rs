//! A list answer holds at most a thousand items and says where the next
//! page starts; walking the pages lists every one of an organisation of more
//! staff than a page, each once. Page parameters that are not ones are
//! refused with the reason. The index of gateways names every gateway
//! service of every organisation, and nothing else.

use std::collections::BTreeSet;

use ehr_ledger::ledger::query::LIST_LIMIT;
use ehr_ledger::ledger::QueryCode;
use ehr_ledger::proto::{ParticipantKind, ParticipantList, Role, ServiceKind};
use ehr_testkit::world::*;

/// Every page of `path`, `size` items a page.
fn walk(w: &World, path: &str, size: usize) -> (Vec<Vec<u8>>, usize) {
    let mut addresses = Vec::new();
    let mut after = String::new();
    let mut pages = 0;
    loop {
        let page: ParticipantList = w.query(&format!("{path}?limit={size}&after={after}"));
        pages += 1;
        assert!(page.items.len() <= size);
        addresses.extend(page.items.into_iter().map(|p| p.address));
        if page.next_after.is_empty() {
            return (addresses, pages);
        }
        after = page.next_after;
    }
}

#[test]
fn an_organisation_of_more_staff_than_a_page_is_listed_whole_page_by_page() {
    let mut w = World::new();
    let before: ParticipantList = w.query("/staff/general");
    let extra = LIST_LIMIT + 37;
    let nurses: Vec<_> = (0..extra)
        .map(|i| actor(&format!("nurse {i}@general")))
        .collect();
    for chunk in nurses.chunks(250) {
        let txs = chunk
            .iter()
            .map(|n| w.admin.tx(register_staff(n.public_key(), Role::Nurse)))
            .collect();
        let result = w.node.block(txs).unwrap();
        assert!(result.tx_results.iter().all(|r| r.is_ok()));
    }
    let total = before.items.len() + extra;

    // The first page is full and says there is more.
    let first: ParticipantList = w.query("/staff/general");
    assert_eq!(first.items.len(), LIST_LIMIT);
    assert!(!first.next_after.is_empty());
    // Walked with the default page and with small ones: everyone, once.
    for size in [LIST_LIMIT, 100, 7] {
        let (addresses, pages) = walk(&w, "/staff/general", size);
        assert_eq!(addresses.len(), total, "page size {size}");
        let distinct: BTreeSet<_> = addresses.iter().collect();
        assert_eq!(distinct.len(), total, "no one twice (page size {size})");
        for n in &nurses {
            assert!(distinct.contains(&n.address().0.to_vec()));
        }
        assert_eq!(
            pages,
            total.div_ceil(size) + usize::from(total.is_multiple_of(size))
        );
    }

    // Page parameters that are not ones.
    for (path, reason) in [
        ("/staff/general?limit=0", "from 1 to 1000"),
        ("/staff/general?limit=1001", "from 1 to 1000"),
        ("/staff/general?limit=many", "from 1 to 1000"),
        ("/staff/general?after=not-hex", "not a page cursor"),
        ("/staff/general?sort=name", "not a page parameter"),
    ] {
        let a = w.node.query(path);
        assert_eq!(a.code, QueryCode::BadPath, "{path}");
        assert!(a.log.contains(reason), "{path}: {}", a.log);
    }
}

#[test]
fn the_index_of_gateways_names_every_gateway_service_and_nothing_else() {
    let mut w = World::new();
    let north_gateway = actor("gateway@north");
    let north_ingest = actor("ingest@north");
    let txs = vec![
        w.north_admin.tx(register_service(
            north_gateway.public_key(),
            ServiceKind::Gateway,
        )),
        w.north_admin.tx(register_service(
            north_ingest.public_key(),
            ServiceKind::Ingest,
        )),
    ];
    assert!(w
        .node
        .block(txs)
        .unwrap()
        .tx_results
        .iter()
        .all(|r| r.is_ok()));
    let gateways: ParticipantList = w.query("/gateways");
    let named: BTreeSet<Vec<u8>> = gateways.items.iter().map(|p| p.address.clone()).collect();
    let expected: BTreeSet<Vec<u8>> = [&w.gateway, &north_gateway]
        .iter()
        .map(|a| a.address().0.to_vec())
        .collect();
    assert_eq!(named, expected);
    assert!(gateways
        .items
        .iter()
        .all(|p| p.kind == ParticipantKind::Service as i32
            && p.service_kind == ServiceKind::Gateway as i32));
    assert!(gateways.next_after.is_empty());
}
