from lastmile import contract_doc
from udfs.contracts import rules


def test_committed_contract_doc_matches_schemas_and_rules():
    committed = contract_doc.DOC_PATH.read_text(encoding="utf-8")
    assert committed == contract_doc.render(), "run `lastmile contract-doc` and commit docs/data-contract.md"


def test_contract_doc_lists_every_reason_and_field():
    text = contract_doc.render()
    for rule in rules.RULES:
        assert f"| `{rule.code}` |" in text
    for code in rules.DECODE_REASONS:
        assert f"| `{code}` |" in text
    for field in ("dest_lat", "window_end", "recipient_key", "spare_stops", "status", "speed_mps"):
        assert f"| `{field}` |" in text
