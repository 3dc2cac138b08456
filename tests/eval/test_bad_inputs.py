"""Bad input raises EvalError naming the file and the line or key at fault."""
import pytest

from tempr1_jax.eval import EvalError, evaluate


@pytest.fixture
def charades(write_text):
    return write_text("charades.txt", "AAA 0.0 10.0##a person sits.\nBBB 5 15##a person stands.\n")


def bad_prediction(write_text, charades, lines, match):
    preds = write_text("preds.jsonl", "".join(line + "\n" for line in lines))
    with pytest.raises(EvalError, match=match):
        evaluate("charades_sta", [charades], preds)


def test_line_that_is_not_json(write_text, charades):
    bad_prediction(write_text, charades, ['{"qid": 0, "pred_relevant_windows": []}', '{"qid": 1,'], r"preds\.jsonl:2: not valid JSON")


def test_record_without_qid_or_not_an_object(write_text, charades):
    bad_prediction(write_text, charades, ['{"pred_relevant_windows": [[0, 1]]}'], r"preds\.jsonl:1: missing key 'qid'")
    bad_prediction(write_text, charades, ["[0, 1]"], r"preds\.jsonl:1: expected a JSON object")


def test_record_without_windows(write_text, charades):
    bad_prediction(write_text, charades, ['{"qid": 0}'], r"preds\.jsonl:1: missing key 'pred_relevant_windows'")


@pytest.mark.parametrize("window", ["[1]", "[1, 2, 3, 4]", '["1", "2"]', "[true, 2]", "[NaN, 2]", "5"])
def test_window_that_is_not_a_pair_of_numbers(write_text, charades, window):
    line = f'{{"qid": 0, "pred_relevant_windows": [[0, 1], {window}]}}'
    bad_prediction(write_text, charades, [line], r"preds\.jsonl:1: key 'pred_relevant_windows'\[1\]: window must be")


def test_windows_that_are_not_a_list(write_text, charades):
    bad_prediction(write_text, charades, ['{"qid": 0, "pred_relevant_windows": 3}'], r"preds\.jsonl:1: .*expected a list of windows")


def test_unknown_and_repeated_qids(write_text, charades):
    bad_prediction(write_text, charades, ['{"qid": 7, "pred_relevant_windows": []}'], r"preds\.jsonl:1: qid 7 is not in the annotations .*charades\.txt")
    bad_prediction(write_text, charades, ['{"qid": "0", "pred_relevant_windows": []}'], r"preds\.jsonl:1: qid '0' is not in")
    bad_prediction(
        write_text, charades, ['{"qid": 1, "pred_relevant_windows": []}', '{"qid": 1, "pred_relevant_windows": []}'],
        r"preds\.jsonl:2: qid 1 repeats the prediction at .*preds\.jsonl:1",
    )


def test_in_memory_records_are_named_by_index(charades):
    with pytest.raises(EvalError, match=r"predictions\[1\]: missing key 'qid'"):
        evaluate("charades_sta", [charades], [{"qid": 0, "pred_relevant_windows": []}, {}])


def test_registry_errors(charades):
    with pytest.raises(EvalError, match="unknown benchmark 'charades'; known: charades_sta, "):
        evaluate("charades", [charades], [])
    with pytest.raises(EvalError, match=r"nextgqa takes 2 annotation file\(s\) \(gsub_test.json, test.csv\), got 1"):
        evaluate("nextgqa", [charades], [])
    with pytest.raises(EvalError, match="qvhighlights has no option strict; its options: match_number"):
        evaluate("qvhighlights", [charades], [], strict=True)


def test_unreadable_files(tmp_path, charades):
    with pytest.raises(EvalError, match=r"missing\.jsonl: cannot read file"):
        evaluate("charades_sta", [charades], str(tmp_path / "missing.jsonl"))
    with pytest.raises(EvalError, match=r"none\.txt: cannot read file"):
        evaluate("charades_sta", [str(tmp_path / "none.txt")], [])


def test_bad_grounding_annotations(write_text, write_json):
    txt = write_text("c.txt", "AAA 0 10##ok.\nBBB 5##no end.\n")
    with pytest.raises(EvalError, match=r"c\.txt:2: expected 'VIDEO start end##sentence'"):
        evaluate("charades_sta", [txt], [])
    txt = write_text("d.txt", "AAA 0 ten##bad.\n")
    with pytest.raises(EvalError, match=r"d\.txt:1: 'ten' is not a number"):
        evaluate("charades_sta", [txt], [])
    anet = write_json("val_2.json", {"v_x": {"duration": 3, "sentences": ["a"]}})
    with pytest.raises(EvalError, match=r"val_2\.json: key 'v_x': missing key 'timestamps'"):
        evaluate("activitynet_captions_grounding", [anet], [])
    anet = write_json("val_3.json", {"v_x": {"timestamps": [[0, 1], [2]]}})
    with pytest.raises(EvalError, match=r"val_3\.json: key 'v_x'\.timestamps\[1\]: window must be"):
        evaluate("activitynet_dtg", [anet], [])
    tvg = write_json("tvgbench.json", [{"answer": "1.0-2.0"}, {"answer": "-1.0-2.0"}])
    with pytest.raises(EvalError, match=r"tvgbench\.json: item \[1\] key 'answer': expected a 'start-end' string"):
        evaluate("tvgbench", [tvg], [])
    broken = write_text("broken.json", '{"v_x":\n  {"timestamps": [[0, 1]]\n')
    with pytest.raises(EvalError, match=r"broken\.json:3: not valid JSON"):
        evaluate("activitynet_dtg", [broken], [])


def test_bad_qvhighlights_inputs(write_jsonl):
    line = {"qid": 1, "duration": 10, "relevant_windows": [[0, 4]], "relevant_clip_ids": [0, 1], "saliency_scores": [[1, 2, 3], [4, 4, 4]]}
    gt = write_jsonl("gt.jsonl", [line, {**line, "qid": 2, "relevant_clip_ids": [0, 5]}])
    hl = [{"qid": 1, "pred_saliency_scores": [1, 2]}, {"qid": 2, "pred_saliency_scores": [1, 2]}]
    with pytest.raises(EvalError, match=r"gt\.jsonl:2: key 'relevant_clip_ids' must list clip indices below 5"):
        evaluate("qvhighlights", [gt], hl)
    gt = write_jsonl("gt2.jsonl", [line, {**line, "qid": 2}])
    with pytest.raises(EvalError, match=r"predictions\[1\]: missing key 'pred_saliency_scores'"):
        evaluate("qvhighlights", [gt], [hl[0], {"qid": 2, "pred_relevant_windows": []}])
    mixed = [{"qid": 1, "pred_relevant_windows": [[0, 1], [0, 1, 0.5]]}, {"qid": 2, "pred_relevant_windows": []}]
    with pytest.raises(EvalError, match=r"predictions\[0\]: key 'pred_relevant_windows': mixes windows with and without a score"):
        evaluate("qvhighlights", [gt], mixed)
    with pytest.raises(EvalError, match=r"gt3\.jsonl:1: missing key 'relevant_windows'"):
        evaluate("qvhighlights", [write_jsonl("gt3.jsonl", [{"qid": 1, "duration": 10}])], [])
    no_saliency = write_jsonl("gt4.jsonl", [{"qid": 1, "duration": 10, "relevant_windows": [[0, 4]]}])
    with pytest.raises(EvalError, match=r"gt4\.jsonl:1: missing key 'relevant_clip_ids'"):
        evaluate("qvhighlights", [no_saliency], hl[:1])


def test_bad_nextgqa_inputs(write_json, write_text):
    gsub = write_json("gsub.json", {"9": {"duration": 10, "location": {"0": [[0, 5]]}}})
    header = "video_id,qid,answer,a0,a1,a2,a3,a4\n"
    with pytest.raises(EvalError, match=r"q\.csv:1: header lacks column\(s\) a4"):
        evaluate("nextgqa", [gsub, write_text("q.csv", "video_id,qid,answer,a0,a1,a2,a3\n")], [])
    with pytest.raises(EvalError, match=r"r\.csv:3: answer 'z' is none of the options"):
        evaluate("nextgqa", [gsub, write_text("r.csv", header + "9,0,a,a,b,c,d,e\n9,1,z,a,b,c,d,e\n")], [])
    csv = write_text("s.csv", header + "9,0,a,a,b,c,d,e\n")
    with pytest.raises(EvalError, match=r"predictions\[0\]: key 'answer' must be an option index \(int\), got 'a'"):
        evaluate("nextgqa", [gsub, csv], [{"qid": "9_0", "answer": "a", "pred_relevant_windows": []}])
    with pytest.raises(EvalError, match=r"predictions\[0\]: qid '9_1' is not in the annotations .*s\.csv"):
        evaluate("nextgqa", [gsub, csv], [{"qid": "9_1", "answer": 0, "pred_relevant_windows": []}])
    bad_gsub = write_json("gsub2.json", {"9": {"duration": 10, "location": {"0": [[0, 5, 7]]}}})
    with pytest.raises(EvalError, match=r"gsub2\.json: key 9\.location\.0\[0\]: window must be"):
        evaluate("nextgqa", [bad_gsub, csv], [])


def test_bad_activitynet_detection_inputs(write_json):
    with pytest.raises(EvalError, match=r"db\.json: missing key 'database'"):
        evaluate("activitynet_tal", [write_json("db.json", {"version": 1})], {"results": {}})
    db = write_json("db2.json", {"database": {"v": {"subset": "validation", "annotations": [{"label": "Run", "segment": [0, 1]}]}}})
    with pytest.raises(EvalError, match=r"predictions: missing key 'results'"):
        evaluate("activitynet_tal", [db], {"v": []})
    with pytest.raises(EvalError, match=r"sub\.json: key results\.v\[0\]: missing key 'score'"):
        evaluate("activitynet_tal", [db], write_json("sub.json", {"results": {"v": [{"label": "Run", "segment": [0, 1]}]}}))
    with pytest.raises(EvalError, match=r"key results\.v\[0\]\.segment: window must be"):
        evaluate("tal_f1", [db], {"results": {"v": [{"label": "Run", "segment": [0, "1"]}]}})
    with pytest.raises(EvalError, match=r"db2\.json: no annotated segment in subset 'testing'"):
        evaluate("tal_f1", [db], {"results": {}}, subset="testing")
