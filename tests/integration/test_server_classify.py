"""POST /v1/classify with the default encoder."""
import httpx
import pytest

from models import bundled
from models.registry import Registry
from tests.server_setup import running_server


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    from desktop.store import Database

    home = tmp_path_factory.mktemp("classify-home")
    with running_server(registry=Registry(root=home / "models"), db=Database(home / "fireside.db")) as controller:
        yield controller


def test_zero_shot_labels_on_the_fly(server):
    texts = ["The striker scored twice and the team won the cup final.",
             "Stir the onions in butter, then add the rice and the stock."]
    response = httpx.post(server.address + "/classify", timeout=120, json={
        "input": texts, "labels": ["sports", "cooking"], "model": bundled.ENCODER_NAME})
    assert response.status_code == 200, response.text
    body = response.json()
    assert [item["label"] for item in body["data"]] == ["sports", "cooking"]
    for item in body["data"]:
        assert set(item["scores"]) == {"sports", "cooking"}
        assert item["score"] == max(item["scores"].values())
    assert body["usage"]["prompt_tokens"] > len(texts)


def test_unknown_classifier_is_a_404(server):
    response = httpx.post(server.address + "/classify", json={"classifier": "no-such-classifier", "input": "x"})
    assert response.status_code == 404 and response.json()["error"]["code"] == "classifier_not_found"


def test_classifiers_are_listed(server):
    response = httpx.get(server.address + "/classifiers")
    assert response.status_code == 200 and response.json()["object"] == "list"


def test_a_saved_classifier_by_name(server):
    from desktop.store.classifiers import add_example, create_classifier

    db = server.state.db
    classifier_id = create_classifier(db, "topics", ["sports", "cooking"])
    add_example(db, classifier_id, "The goalkeeper saved a penalty in extra time.", "sports", "example")
    add_example(db, classifier_id, "Knead the dough and let it rise for an hour.", "cooking", "example")
    listed = httpx.get(server.address + "/classifiers").json()["data"]
    assert {"id": "topics", "labels": ["sports", "cooking"]}.items() <= next(c for c in listed if c["id"] == "topics").items()
    for body in ({"classifier": "topics"}, {"model": "topics"}):
        response = httpx.post(server.address + "/classify", timeout=120,
                              json={**body, "input": ["Whisk the eggs with sugar until pale."]})
        assert response.status_code == 200, response.text
        [item] = response.json()["data"]
        assert item["label"] == "cooking" and 0.5 < item["score"] <= 1.0
