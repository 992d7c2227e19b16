//! Properties of the keyset cursors the reports put in their "next" links:
//! whatever comes back in a URL, decoding answers a cursor or nothing, and
//! every cursor a page writes reads back as itself.

use chrono::DateTime;
use proptest::prelude::*;
use uuid::Uuid;

use crate::pages::{apps::Cursor, report_offboarding::LeakCursor, report_stale::StaleCursor};

proptest! {
    #[test]
    fn any_text_decodes_or_not(s in "\\PC{0,200}") {
        let _ = Cursor::decode(&s);
        let _ = LeakCursor::decode(&s);
        let _ = StaleCursor::decode(&s);
    }

    #[test]
    fn cursors_round_trip(
        num in any::<i64>(),
        id in any::<i64>(),
        txt in "\\PC{0,60}",
        micros in 0i64..4_102_444_800_000_000,
        org in any::<u128>(),
        a in "\\PC{0,30}",
    ) {
        let c = Cursor { num, id, txt: txt.clone() };
        prop_assert_eq!(Cursor::decode(&c.encode()), Some(c));
        let at = DateTime::from_timestamp_micros(micros).unwrap();
        let org = Uuid::from_u128(org);
        // The user id is a Salesforce id (no '~'); the last part may be anything.
        let user = a.replace('~', "");
        let l = LeakCursor { deactivated: at, org_id: org, user_id: user.clone(), token_id: txt.clone() };
        let back = LeakCursor::decode(&l.encode()).unwrap();
        prop_assert_eq!((back.deactivated, back.org_id, back.user_id, back.token_id), (at, org, user, txt.clone()));
        let s = StaleCursor { idle_since: at, org_id: org, token_id: txt.clone() };
        let back = StaleCursor::decode(&s.encode()).unwrap();
        prop_assert_eq!((back.idle_since, back.org_id, back.token_id), (at, org, txt));
    }
}
