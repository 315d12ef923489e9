"""Tables: reading, and the column preprocessing saved with the model (aekit.data.tables)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from aekit.data.kinds import preprocessing_from_dict
from aekit.data.tablefiles import read_table
from aekit.data.tables import OTHER, TablePreprocessing
from aekit.errors import AekitError

pd = pytest.importorskip("pandas")

ADBENCH = Path(__file__).resolve().parents[2] / "shared" / "data" / "adbench"


def frame(n: int = 8) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return pd.DataFrame({
        "age": rng.normal(40, 10, n).round(1),
        "colour": (["red", "green", "blue", "red"] * n)[:n],
        "member": ([True, False] * n)[:n],
        "income": rng.normal(1000, 200, n),
    })


def test_standard_scaling_and_vocabulary():
    df = frame()
    prep = TablePreprocessing.fit(df)
    age, colour, member, income = prep.columns
    assert (age.type, colour.type, member.type, income.type) == ("numeric", "categorical", "categorical", "numeric")
    assert age.center == pytest.approx(df["age"].mean()) and age.scale == pytest.approx(df["age"].std(ddof=0))
    assert colour.categories == ("blue", "green", "red") and member.categories == (False, True)
    assert prep.input_shape == (1 + 3 + 2 + 1,)
    x, _ = prep.to_model(df)
    assert x.dtype == torch.float32 and x.shape == (8, 7)
    assert x[:, 0].mean().item() == pytest.approx(0, abs=1e-6)
    assert x[0, 1:4].tolist() == [0, 0, 1]  # "red"


def test_robust_scaling_uses_median_and_iqr():
    df = pd.DataFrame({"v": [1.0, 2.0, 3.0, 4.0, 100.0]})
    (v,) = TablePreprocessing.fit(df, scaling="robust").columns
    assert v.center == 3.0 and v.scale == 2.0  # median 3, quartiles 2 and 4
    assert TablePreprocessing.fit(df, normalize=False).columns[0].scale == 1.0


def test_dict_round_trip_is_json_and_registered():
    prep = TablePreprocessing.fit(frame(), scaling="robust", unseen="other", impute="median")
    record = json.loads(json.dumps(prep.to_dict()))
    assert record["kind"] == "table"
    again = preprocessing_from_dict(record)
    assert again == prep
    assert torch.equal(again.to_model(frame())[0], prep.to_model(frame())[0])
    with pytest.raises(AekitError, match="unknown key"):
        TablePreprocessing.from_dict({**record, "bogus": 1})


def test_round_trip_reproduces_the_frame():
    df = frame(12)
    df["colour"] = df["colour"].astype("category")
    prep = TablePreprocessing.fit(df)
    x, space = prep.to_model(df)
    back = prep.from_model(x, space)
    assert list(back.columns) == list(df.columns)
    np.testing.assert_allclose(back[["age", "income"]].to_numpy(), df[["age", "income"]].to_numpy(), atol=1e-5,
                               rtol=1e-6)
    assert back["colour"].tolist() == df["colour"].tolist() and back["member"].tolist() == df["member"].tolist()
    assert back["member"].dtype == bool and isinstance(back["colour"].dtype, pd.CategoricalDtype)


def test_column_order_is_free_but_names_are_not():
    df = frame()
    prep = TablePreprocessing.fit(df)
    assert torch.equal(prep.to_model(df[df.columns[::-1]])[0], prep.to_model(df)[0])
    with pytest.raises(AekitError, match="missing column.*'income'") as err:
        prep.to_model(df.drop(columns="income"))
    assert "age (numeric)" in str(err.value)  # names the columns it expects
    with pytest.raises(AekitError, match="unexpected column.*'extra'"):
        prep.to_model(df.assign(extra=1.0))
    with pytest.raises(AekitError, match=r"missing column\(s\) 'age'; unexpected column\(s\) 'Age' \(renamed"):
        prep.to_model(df.rename(columns={"age": "Age"}))


def test_text_in_a_numeric_column_names_column_and_rows():
    df = frame()
    prep = TablePreprocessing.fit(df)
    bad = df.astype({"age": object})
    bad.loc[2, "age"] = "forty"
    bad.loc[5, "age"] = "n/a"
    with pytest.raises(AekitError, match=r"column 'age' is numeric; got text at row\(s\) 2, 5 \('forty', 'n/a'\)"):
        prep.to_model(bad)
    fine = df.astype({"age": str})  # numbers written as text are numbers
    np.testing.assert_allclose(prep.to_model(fine)[0].numpy(), prep.to_model(df)[0].numpy(), atol=1e-6)


def test_unseen_category_is_an_error_unless_other():
    df = frame()
    new = df.copy()
    new.loc[3, "colour"] = "purple"
    with pytest.raises(AekitError, match=r"column 'colour': unseen category 'purple' at row\(s\) 3"):
        TablePreprocessing.fit(df).to_model(new)
    prep = TablePreprocessing.fit(df, unseen="other")
    x, space = prep.to_model(new)
    assert x[3, 1:5].tolist() == [0, 0, 0, 1]  # blue, green, red, other
    assert prep.from_model(x, space)["colour"][3] == OTHER


def test_missing_values_error_unless_imputed():
    df = frame()
    holes = df.copy()
    holes.loc[1, "income"] = np.nan
    holes.loc[4, "colour"] = ""
    with pytest.raises(AekitError, match=r"'colour' at row\(s\) 4; 'income' at row\(s\) 1"):
        TablePreprocessing.fit(df).to_model(holes)
    with pytest.raises(AekitError, match="impute="):
        TablePreprocessing.fit(holes)
    for impute, expected in (("median", df["income"].drop(1).median()), ("mean", df["income"].drop(1).mean()),
                             ("constant", 0.0)):
        prep = TablePreprocessing.fit(holes, impute=impute)
        income = prep.columns[3]
        assert income.fill == pytest.approx(expected)
        x, space = prep.to_model(holes)
        back = prep.from_model(x, space)
        assert back["income"][1] == pytest.approx(expected, abs=1e-3)  # through float32
        assert back["colour"][4] == "red"  # a categorical hole takes the most frequent category


def test_read_table_files_and_errors(tmp_path):
    df = frame().assign(id=range(8), label=[0, 1] * 4)
    df.to_csv(tmp_path / "t.csv", index=False)
    df.to_csv(tmp_path / "t.tsv", index=False, sep="\t")
    df.to_parquet(tmp_path / "t.parquet")
    for name in ("t.csv", "t.tsv", "t.parquet"):
        table = read_table(tmp_path / name, label_column="label", id_column="id")
        assert list(table.features.columns) == ["age", "colour", "member", "income"]
        assert table.labels.tolist() == [0, 1] * 4 and table.ids.tolist() == list(range(8))
    np.save(tmp_path / "a.npy", np.ones((3, 2)))
    assert list(read_table(tmp_path / "a.npy").features.columns) == ["f0", "f1"]
    assert read_table(np.zeros((4, 3))).features.shape == (4, 3)
    with pytest.raises(AekitError, match="does not exist"):
        read_table(tmp_path / "nope.csv")
    (tmp_path / "t.xlsx").write_text("x")
    with pytest.raises(AekitError, match="unknown table format .xlsx"):
        read_table(tmp_path / "t.xlsx")
    with pytest.raises(AekitError, match="no column 'target'.*'age', 'colour'"):
        read_table(df, label_column="target")
    with pytest.raises(AekitError, match="at least 2 rows"):
        read_table(df.head(1))


@pytest.mark.skipif(not (ADBENCH / "15_Hepatitis.npz").exists(), reason="shared ADBench data not present")
def test_adbench_npz_reads_with_labels():
    table = read_table(ADBENCH / "15_Hepatitis.npz")
    assert table.features.shape == (80, 19) and len(table.labels) == 80
    prep = TablePreprocessing.fit(table)
    x, space = prep.to_model(table)
    np.testing.assert_allclose(prep.from_model(x, space).to_numpy(dtype=np.float64),
                               table.features.to_numpy(dtype=np.float64), atol=1e-4)


def test_fit_on_a_dataframe_with_a_categorical_column(tmp_path):
    import aekit

    df = frame(64)
    model = aekit.fit(df, preset="deep", latent_dim=3, epochs=2, batch_size=16, save_to=tmp_path / "m")
    assert model.preprocessing.kind == "table" and model.preprocessing.input_shape == (7,)
    assert model.config.model.output_activation == "none" and model.config.objective.reconstruction == "mse"
    assert len(model.history) == 2
    codes = model.encode(df)
    assert codes.shape == (64, 3) and np.isfinite(codes).all()
    back = model.reconstruct(df)
    assert list(back.columns) == list(df.columns) and np.isfinite(back[["age", "income"]].to_numpy()).all()
    assert set(back["colour"]) <= {"blue", "green", "red"}
    loaded = aekit.load(tmp_path / "m")
    assert loaded.preprocessing == model.preprocessing
    np.testing.assert_allclose(loaded.encode(df), codes, atol=1e-5)
    with pytest.raises(AekitError, match="unexpected column"):
        model.encode(df.assign(extra=0.0))


def test_fit_takes_the_table_settings_as_options():
    import aekit

    df = frame(64)
    df.loc[3, "income"] = np.nan
    with pytest.raises(AekitError, match="missing"):
        aekit.fit(df, preset="dense", latent_dim=2, epochs=1)
    model = aekit.fit(df, preset="dense", latent_dim=2, epochs=1, impute="median", unseen="other",
                      scaling="robust", val_fraction=0.0)  # every row in training: the median is the frame's
    prep = model.preprocessing
    assert prep.to_dict() == preprocessing_from_dict(json.loads(json.dumps(prep.to_dict()))).to_dict()
    assert model.config.data.impute == "median" and model.config.data.scaling == "robust"
    income = [c for c in prep.columns if c.name == "income"][0]
    assert income.center == pytest.approx(df["income"].median())  # robust: the median, NaN ignored
    new = frame(2).assign(colour=["purple", "red"])
    assert model.encode(new).shape == (2, 2)  # an unseen colour goes to the "other" slot
    with pytest.raises(AekitError, match="data.impute"):
        aekit.fit(df, preset="dense", impute="mode")
