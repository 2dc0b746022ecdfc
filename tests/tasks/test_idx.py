import gzip

import numpy as np
import pytest

from rnnxbench.tasks.idx import read_idx, write_idx


@pytest.mark.parametrize("name", ["images-idx3-ubyte", "images-idx3-ubyte.gz"])
def test_round_trip_uint8_images(tmp_path, name):
    images = np.random.RandomState(0).randint(0, 256, size=(5, 28, 28)).astype(np.uint8)
    path = write_idx(tmp_path / name, images)
    back = read_idx(path)
    assert back.dtype == np.uint8 and back.shape == (5, 28, 28)
    np.testing.assert_array_equal(back, images)
    raw = path.read_bytes()
    if name.endswith(".gz"):
        raw = gzip.decompress(raw)
    # the MNIST header: magic 0x00000803, then the dimensions big-endian
    assert raw[:4] == bytes([0, 0, 0x08, 3])
    assert int.from_bytes(raw[4:8], "big") == 5 and int.from_bytes(raw[8:12], "big") == 28


@pytest.mark.parametrize("dtype", [np.int8, np.int16, np.int32, np.float32, np.float64])
def test_round_trip_other_types_is_big_endian(tmp_path, dtype):
    values = np.array([-3, 0, 1, 70, 100], dtype=dtype)
    path = write_idx(tmp_path / "v.idx", values)
    back = read_idx(path)
    assert back.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(back, values)
    payload = path.read_bytes()[8:]
    assert payload == values.astype(np.dtype(dtype).newbyteorder(">")).tobytes()


def test_gzip_is_detected_from_content_not_name(tmp_path):
    labels = np.arange(10, dtype=np.uint8)
    plain = write_idx(tmp_path / "labels", labels)
    disguised = tmp_path / "labels-idx1-ubyte"
    disguised.write_bytes(gzip.compress(plain.read_bytes()))
    np.testing.assert_array_equal(read_idx(disguised), labels)


def test_malformed_magic_is_rejected(tmp_path):
    path = tmp_path / "bad"
    path.write_bytes(b"\x12\x34\x08\x01" + (3).to_bytes(4, "big") + b"abc")
    with pytest.raises(ValueError, match="not an IDX file"):
        read_idx(path)
    path.write_bytes(b"\x00\x00\x07\x01" + (3).to_bytes(4, "big") + b"abc")  # unknown type
    with pytest.raises(ValueError, match="not an IDX file"):
        read_idx(path)


def test_truncated_and_oversized_payloads_are_rejected(tmp_path):
    good = write_idx(tmp_path / "x", np.zeros((4, 3, 3), dtype=np.uint8)).read_bytes()
    path = tmp_path / "y"
    for broken in (good[:-1], good + b"\x00", good[:10]):
        path.write_bytes(broken)
        with pytest.raises(ValueError, match=str(path.name)):
            read_idx(path)


def test_unsupported_dtype_is_refused(tmp_path):
    with pytest.raises(ValueError, match="cannot store dtype int64"):
        write_idx(tmp_path / "z", np.arange(3, dtype=np.int64))
