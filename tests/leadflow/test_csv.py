import csv
import io

import pytest

from leadflow.csv import csv_response, safe_csv_cell


@pytest.mark.parametrize("cell", ["=1+1", "+1", "-2+3", "@SUM(A1)", "\tx", "\rx"])
def test_formula_starts_are_neutralised(cell):
    assert safe_csv_cell(cell) == "'" + cell


def test_numbers_and_plain_text_pass_unchanged():
    assert [safe_csv_cell(v) for v in (-5, 2.5, "Acme", None)] == [-5, 2.5, "Acme", ""]


def test_response_streams_every_row_escaped():
    response = csv_response("x.csv", ["name"], [['=HYPERLINK("http://evil")'], ["Ada"]])
    body = b"".join(response.streaming_content).decode()
    assert list(csv.reader(io.StringIO(body))) == [
        ["name"],
        ['\'=HYPERLINK("http://evil")'],
        ["Ada"],
    ]
    assert response["Content-Disposition"] == 'attachment; filename="x.csv"'
