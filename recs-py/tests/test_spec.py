"""Model specs from Python: recs.parse_spec and recs.fit_spec use the library's one parser."""

import pickle

import numpy as np
import pytest

import recs
from conftest import random_interactions

YEARS = [None if i % 7 == 0 else 1990 + i % 11 for i in range(40)]


def same_lists(a, b, users=range(10), n=5):
    for u in users:
        ia, sa = a.recommend(u, N=n)
        ib, sb = b.recommend(u, N=n)
        np.testing.assert_array_equal(ia, ib)
        np.testing.assert_allclose(sa, sb, rtol=1e-6)


def test_parse_spec_types_values_and_canonical_names():
    assert recs.parse_spec("ease:lambda=500,dropout=0.1") == ("ease", {"lambda": 500, "dropout": 0.1})
    assert recs.parse_spec(" Popularity ") == ("pop", {})
    assert recs.parse_spec("item-knn:binarize=false") == ("itemknn", {"binarize": False})
    assert recs.parse_spec("als:regularization=auto") == ("als", {"regularization": "auto"})


@pytest.mark.parametrize(
    "text, words",
    [
        ("als:reg=0.1", ["`reg`", "regularization"]),  # unknown key lists the valid ones
        ("ease:lamda=3", ["`lamda`", "lambda, dropout"]),
        ("nope", ["nope", "ease"]),  # unknown model lists the models
        ("als:factors=many", ["als:factors=many"]),  # wrong type
        ("als:factors=auto", ["auto"]),  # auto where the model has no search
        ("ease:lambda=NaN", ["ease:lambda=NaN"]),
        ("ease:lambda", ["KEY=VALUE"]),
        # a blend member's parameter is checked by the member's own rules, and needs its weight
        ("blend:transition=1,transition.backwards=1", ["`backwards`", "backward"]),
        ("blend:pop=1,transition.backward=0.25", ["`transition.backward`", "transition=WEIGHT"]),
    ],
)
def test_bad_specs_raise_value_error_with_the_library_message(text, words, train):
    for call in (lambda: recs.parse_spec(text), lambda: recs.fit_spec(text, train)):
        with pytest.raises(ValueError) as err:
            call()
        for w in words:
            assert w in str(err.value), str(err.value)


def test_fit_spec_equals_the_class_with_the_same_parameters(train):
    model = recs.fit_spec("ease:lambda=10", train)
    assert type(model) is recs.EASE and model.is_fitted
    assert model.get_params() == {"lambda": 10}
    assert repr(model) == "EASE(spec='ease:lambda=10')"
    same_lists(model, recs.EASE(lambda_=10.0).fit(train))
    als = recs.fit_spec("als:factors=8,iterations=5,seed=3", train)
    assert type(als) is recs.ALS
    np.testing.assert_allclose(
        als.item_factors, recs.ALS(factors=8, iterations=5, seed=3).fit(train).item_factors, rtol=1e-5
    )


def test_fit_spec_fresh_uses_years_and_fresh_lambda_is_ease_lambda(train):
    with pytest.raises(ValueError, match="year"):
        recs.fit_spec("fresh:lambda=10", train)
    model = recs.fit_spec("fresh:lambda=10,recency_boost=0", train, years=YEARS)
    assert type(model) is recs.Fresh
    same_lists(model, recs.Fresh(years=YEARS, ease_lambda=10.0, recency_boost=0.0).fit(train))


def test_each_spec_name_gets_its_class(train):
    assert type(recs.fit_spec("pop", train)) is recs.Popularity
    assert type(recs.fit_spec("itemknn:neighbors=5", train)) is recs.ItemKNN
    assert type(recs.fit_spec("gmf:factors=4,epochs=1", train)) is recs.GMF
    # blend has no class of its own: a plain Recommender that still recommends
    blend = recs.fit_spec("blend", train)
    assert type(blend) is recs.Recommender and blend.kind == "blend"
    assert blend.recommend(0, N=3)[0].shape == (3,)


def test_a_model_without_a_class_survives_pickle_and_files(train, tmp_path):
    blend = recs.fit_spec("blend", train)
    back = pickle.loads(pickle.dumps(blend))
    path = tmp_path / "blend.recs"
    blend.save(path)
    for other in (back, recs.load(path)):
        assert type(other) is recs.Recommender and other.kind == "blend"
        ids, scores = blend.recommend(0, N=3, user_items=train)
        np.testing.assert_array_equal(other.recommend(0, N=3, user_items=train)[0], ids)
    # a loaded model has no parameters: refitting says what to do instead
    with pytest.raises(recs.RecsError, match="fit_spec"):
        back.fit(train)


def test_auto_is_chosen_on_validation_and_reported(train):
    model = recs.fit_spec("ease:lambda=auto", train)
    assert model.get_params() == {"lambda": "auto"}
    chosen = model.auto_params["lambda"]
    grid = [float(k.split("@")[1]) for k in model.auto_scores]
    assert grid == [25, 50, 100, 200, 400, 800, 1200, 1600, 3200]
    assert chosen in grid
    # the chosen value refitted by hand gives the same model
    same_lists(model, recs.EASE(lambda_=float(chosen)).fit(train))
    # a fixed value has nothing to report
    assert recs.fit_spec("ease:lambda=10", train).auto_params == {}
    # auto_defaults makes `ease` search lambda, as `recs eval` does
    assert "lambda" in recs.fit_spec("ease", train, auto_defaults=True).auto_params
    assert recs.fit_spec("ease", train).auto_params == {}
    with pytest.raises(ValueError, match="validation"):
        recs.fit_spec("ease:lambda=auto", train, validation="first")


def test_refit_fits_the_same_spec_on_new_data(train):
    model = recs.fit_spec("ease:lambda=10", train)
    other = random_interactions(seed=5)
    assert model.fit(other) is model
    same_lists(model, recs.EASE(lambda_=10.0).fit(other))


def test_blend_spec_member_params_and_auto_weight(train):
    text = "blend:pop=1,itemknn=auto,itemknn.neighbors=5"
    assert recs.parse_spec(text) == ("blend", {"pop": 1, "itemknn": "auto", "itemknn.neighbors": 5})
    model = recs.fit_spec(text, train)
    assert model.kind == "blend"
    # the weight grid stated a priori, every value tried; the choice is one of them
    grid = [float(k.split("@")[1]) for k in model.auto_scores]
    assert grid == [0, 0.0125, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2]
    assert model.auto_params["itemknn"] in grid
