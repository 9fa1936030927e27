//! Property tests: a node's key depends on what its parameters mean, not on how they were
//! written (key order, float spelling), and different values give different keys.

use pipeline_engine::canonical_json;
use pipeline_engine::node_key;
use pipeline_engine::Key;
use proptest::prelude::*;
use serde_json::Value;

fn key_of_text(json: &str) -> Key {
    let value: Value = serde_json::from_str(json).unwrap();
    node_key("finetune", &blake3::hash(b"code"), &canonical_json(&value).unwrap(), &[])
}

fn finite() -> impl Strategy<Value = f64> {
    any::<f64>().prop_filter("finite", |f| f.is_finite())
}

proptest! {
    #[test]
    fn key_order_does_not_matter(
        entries in prop::collection::btree_map("[a-z]{1,6}", finite(), 1..8),
        seed in any::<u64>(),
    ) {
        let fields: Vec<String> = entries.iter().map(|(k, v)| format!("\"{k}\": {v:?}")).collect();
        let mut shuffled = fields.clone();
        // A deterministic permutation driven by `seed`.
        let n = shuffled.len();
        for i in (1..n).rev() {
            shuffled.swap(i, (seed as usize ^ i.wrapping_mul(2654435761)) % (i + 1));
        }
        let a = format!("{{\"nested\": {{{}}}, {}}}", shuffled.join(", "), fields.join(", "));
        let b = format!("{{{}, \"nested\": {{{}}}}}", shuffled.join(", "), fields.join(", "));
        prop_assert_eq!(key_of_text(&a), key_of_text(&b));
    }

    #[test]
    fn float_spelling_does_not_matter(x in finite()) {
        let debug = format!("{{\"lr\": {x:?}}}");
        let exp = format!("{{\"lr\": {x:e}}}");
        let upper = format!("{{\"lr\": {x:E}}}");
        prop_assert_eq!(key_of_text(&debug), key_of_text(&exp));
        prop_assert_eq!(key_of_text(&debug), key_of_text(&upper));
    }

    #[test]
    fn different_values_give_different_keys(x in finite(), y in finite()) {
        prop_assume!(x != y); // 0.0 == -0.0, which are meant to share a key
        prop_assert_ne!(key_of_text(&format!("{{\"lr\": {x:?}}}")), key_of_text(&format!("{{\"lr\": {y:?}}}")));
    }

    #[test]
    fn different_strings_give_different_keys(a in "\\PC{0,12}", b in "\\PC{0,12}") {
        prop_assume!(a != b);
        let text = |s: &str| format!("{{\"dataset\": {}}}", serde_json::to_string(s).unwrap());
        prop_assert_ne!(key_of_text(&text(&a)), key_of_text(&text(&b)));
    }
}

#[test]
fn negative_zero_and_positive_zero_share_a_key() {
    assert_eq!(key_of_text(r#"{"x": -0.0}"#), key_of_text(r#"{"x": 0.0}"#));
    assert_eq!(key_of_text(r#"{"x": 0.1}"#), key_of_text(r#"{"x": 1e-1}"#));
    assert_ne!(key_of_text(r#"{"x": 1}"#), key_of_text(r#"{"x": 1.0}"#));
}
