"""nextgqa: NExT-GQA eval_ground.py / eval_next.py conventions (spec T-NGQA) and edge cases."""
import pytest

from tempr1_jax.eval import EvalError, evaluate

HEADER = "video_id,frame_count,width,height,question,answer,qid,type,a0,a1,a2,a3,a4\n"


@pytest.fixture
def t_ngqa(write_json, write_text):
    gsub = write_json("gsub_test.json", {"1001": {"duration": 34, "fps": 29.97, "location": {
        "1": [[1.2, 5.8]], "2": [[12.1, 17.1], [20.0, 23.5]], "3": [[0.5, 12.6]], "4": [[30, 34]],
    }}})
    rows = "".join(f"1001,900,640,480,why {q},yes,{q},CW,no,yes,maybe,later,never\n" for q in (1, 2, 3, 4))
    return [gsub, write_text("test.csv", HEADER + rows)]


def pred(qid, answer, *windows):
    return {"qid": f"1001_{qid}", "answer": answer, "pred_relevant_windows": list(windows)}


# The correct option is a1 ("yes"): q1, q2 and q4 answer it, q3 does not.
T_NGQA_PRED = [pred(1, 1, [2.0, 8.0]), pred(2, 1, [16.0, 21.0]), pred(3, 0, [3.0, 3.0]), pred(4, 1, [10, 20])]


def test_t_ngqa(t_ngqa):
    m = evaluate("nextgqa", t_ngqa, T_NGQA_PRED)
    assert list(m) == ["Acc@QA", "mIoP", "IoP@0.3", "IoP@0.5", "mIoU", "IoU@0.3", "IoU@0.5", "Acc@GQA", "GVQA-mIoU"]
    assert m["Acc@QA"] == 75.0 and m["Acc@GQA"] == 25.0
    # Per question (IoU, IoP): (3.8/6.8, 3.8/6), (1/7.5, 1.1/5) best over two segments, (0, 1) for the
    # zero-length window inside the segment, and (0, 0) for the disjoint one whose raw values are negative.
    assert m["mIoP"] == pytest.approx(100 * (3.8 / 6 + 1.1 / 5 + 1) / 4)
    assert m["mIoU"] == pytest.approx(100 * (3.8 / 6.8 + 1 / 7.5) / 4)
    assert (round(m["mIoP"], 1), round(m["mIoU"], 1)) == (46.3, 17.3)  # the official 1-decimal print
    assert (m["IoP@0.3"], m["IoP@0.5"], m["IoU@0.3"], m["IoU@0.5"]) == (50.0, 50.0, 25.0, 25.0)
    # Unions: q2's two segments cover 8.5 s, 2.1 s of it predicted; a zero-length window covers no time.
    assert m["GVQA-mIoU"] == pytest.approx(100 * (3.8 / 6.8 + 2.1 / 11.4) / 4)


def test_missing_predictions_are_skipped_from_every_denominator(t_ngqa):
    m = evaluate("nextgqa", t_ngqa, T_NGQA_PRED[:1])
    assert m["Acc@QA"] == 100.0 and m["Acc@GQA"] == 100.0 and m["IoP@0.5"] == 100.0
    assert m["mIoU"] == pytest.approx(100 * 3.8 / 6.8)


def test_empty_window_list_counts_for_qa_only(t_ngqa):
    m = evaluate("nextgqa", t_ngqa, [T_NGQA_PRED[0], pred(2, 0)])
    assert m["Acc@QA"] == 50.0 and m["Acc@GQA"] == 100.0
    with pytest.warns(UserWarning, match="grounding metrics left out"):
        qa_only = evaluate("nextgqa", t_ngqa, [pred(1, 1), pred(2, 0)])
    assert qa_only == {"Acc@QA": 50.0}


def test_answer_text_matches_the_first_equal_option(write_json, write_text):
    gsub = write_json("gsub.json", {"9": {"duration": 10, "location": {"0": [[0, 5]]}}})
    csv = write_text("q.csv", "video_id,qid,answer,a0,a1,a2,a3,a4\n9,0, b ,a,b,c,b,e\n")
    assert evaluate("nextgqa", [gsub, csv], [pred_for("9_0", 1)])["Acc@QA"] == 100.0
    assert evaluate("nextgqa", [gsub, csv], [pred_for("9_0", 3)])["Acc@QA"] == 0.0  # same text, later index


def pred_for(qid, answer):
    return {"qid": qid, "answer": answer, "pred_relevant_windows": [[0, 5]]}


def test_empty_predictions_are_an_error(t_ngqa):
    with pytest.raises(EvalError, match="no annotated question has a prediction"):
        evaluate("nextgqa", t_ngqa, [])


def test_only_the_first_window_grounds_and_duplicates_change_nothing(t_ngqa):
    first = evaluate("nextgqa", t_ngqa, [pred(1, 1, [2.0, 8.0], [1.2, 5.8])])
    assert first["mIoU"] == pytest.approx(100 * 3.8 / 6.8)
    assert first["GVQA-mIoU"] == pytest.approx(100 * 4.6 / 6.8)  # the union uses every window
    dup = evaluate("nextgqa", t_ngqa, [pred(1, 1, [2.0, 8.0], [2.0, 8.0])])
    assert dup["mIoU"] == first["mIoU"] and dup["GVQA-mIoU"] == pytest.approx(100 * 3.8 / 6.8)


def test_reversed_past_end_and_on_threshold_windows(t_ngqa):
    # q4 GT [30,34]: reversed [34,30] has a negative raw intersection -> 0; [32,40] past the 34-s end has
    # IoP exactly 2/8 < 0.3 and IoU 2/10; q3 GT [0.5,12.6]: [0.5,24.7] has IoP exactly 0.5.
    assert evaluate("nextgqa", t_ngqa, [pred(4, 1, [34, 30])])["mIoP"] == 0.0
    past = evaluate("nextgqa", t_ngqa, [pred(4, 1, [32, 40])])
    assert past["mIoU"] == pytest.approx(20.0) and past["IoP@0.3"] == 0.0
    on = evaluate("nextgqa", t_ngqa, [pred(3, 1, [0.5, 24.7])])
    assert on["IoP@0.5"] == 100.0 and on["Acc@GQA"] == 100.0
