"""Local-file loaders: IDX (MNIST, Fashion-MNIST) and pickled CIFAR-10 batches written to tmp_path."""

import gzip
import pickle
import struct

import numpy as np
import pytest

from bayeskd.data import load_cifar10, load_mnist, parse_idx, read_idx
from bayeskd.data.files import CIFAR10_FILES, MNIST_FILES

_CODES = {
    np.uint8: 0x08,
    np.int8: 0x09,
    np.int16: 0x0B,
    np.int32: 0x0C,
    np.float32: 0x0D,
    np.float64: 0x0E,
}


def idx_bytes(array: np.ndarray) -> bytes:
    """Encodes an array in the IDX format (independently of the code under test)."""
    header = struct.pack(">HBB", 0, _CODES[array.dtype.type], array.ndim)
    header += struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.astype(array.dtype.newbyteorder(">")).tobytes()


def write_mnist(folder, *, n_train=5, n_test=3, gz=(), seed=0):
    """Writes the four IDX files (names in ``gz`` gzipped); returns the arrays written."""
    rng = np.random.default_rng(seed)
    arrays = {
        MNIST_FILES[0]: rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        MNIST_FILES[1]: rng.integers(0, 10, n_train, dtype=np.uint8),
        MNIST_FILES[2]: rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
        MNIST_FILES[3]: rng.integers(0, 10, n_test, dtype=np.uint8),
    }
    folder.mkdir(parents=True, exist_ok=True)
    for name, array in arrays.items():
        if name in gz:
            with gzip.open(folder / f"{name}.gz", "wb") as f:
                f.write(idx_bytes(array))
        else:
            (folder / name).write_bytes(idx_bytes(array))
    return arrays


@pytest.mark.parametrize("dtype", [np.uint8, np.int8, np.int16, np.int32, np.float32, np.float64])
def test_parse_idx_round_trip(dtype):
    array = (np.arange(24).reshape(2, 3, 4) - 5).astype(dtype)
    parsed = parse_idx(idx_bytes(array))
    assert parsed.dtype == np.dtype(dtype) and parsed.dtype.isnative
    np.testing.assert_array_equal(parsed, array)


@pytest.mark.parametrize("gz", [(), MNIST_FILES, MNIST_FILES[1::2]])
def test_load_mnist_plain_gzipped_and_mixed(tmp_path, gz):
    arrays = write_mnist(tmp_path, gz=gz)
    ds = load_mnist(tmp_path)
    assert ds.name == "mnist" and ds.num_classes == 10
    assert ds.x_train.shape == (5, 28, 28, 1) and ds.x_test.shape == (3, 28, 28, 1)
    assert ds.x_train.dtype == np.float32 and 0.0 <= ds.x_train.min() <= ds.x_train.max() <= 1.0
    np.testing.assert_allclose(ds.x_train[..., 0], arrays[MNIST_FILES[0]] / 255.0, rtol=1e-6)
    np.testing.assert_allclose(ds.x_test[..., 0], arrays[MNIST_FILES[2]] / 255.0, rtol=1e-6)
    np.testing.assert_array_equal(ds.y_train, arrays[MNIST_FILES[1]])
    np.testing.assert_array_equal(ds.y_test, arrays[MNIST_FILES[3]])


def test_load_fashion_mnist_and_standardize(tmp_path):
    write_mnist(tmp_path, n_train=20)
    ds = load_mnist(tmp_path, fashion=True, standardize=True)
    assert ds.name == "fashion_mnist"
    assert abs(ds.x_train.mean()) < 1e-5 and abs(ds.x_train.std() - 1) < 1e-4
    assert len(ds.meta["channel_mean"]) == 1


def test_missing_mnist_directory_names_the_expected_file(tmp_path):
    folder = tmp_path / "nowhere"
    with pytest.raises(FileNotFoundError) as info:
        load_mnist(folder)
    message = str(info.value)
    assert message.startswith(f"expected train-images-idx3-ubyte(.gz) in {folder}")
    assert "download MNIST and place the four IDX files there" in message
    with pytest.raises(FileNotFoundError, match="download Fashion-MNIST"):
        load_mnist(folder, fashion=True)


def test_missing_mnist_file_names_that_file(tmp_path):
    write_mnist(tmp_path)
    (tmp_path / "t10k-labels-idx1-ubyte").unlink()
    with pytest.raises(FileNotFoundError, match=r"^expected t10k-labels-idx1-ubyte\(\.gz\) in "):
        load_mnist(tmp_path)


@pytest.mark.parametrize(
    ("corrupt", "pattern"),
    [
        (lambda b: b"\x08\x03" + b[2:], "bad magic number"),
        (lambda b: b[:2] + b"\x07" + b[3:], "bad magic number"),
        (lambda b: b[:-10], "truncated"),
        (lambda b: b[:9], "truncated IDX header"),
        (lambda b: b + b"\x00", "trailing bytes"),
        (lambda b: b"", "not an IDX file"),
    ],
)
def test_corrupted_idx_file_names_the_file(tmp_path, corrupt, pattern):
    write_mnist(tmp_path)
    path = tmp_path / MNIST_FILES[2]
    path.write_bytes(corrupt(path.read_bytes()))
    with pytest.raises(ValueError, match=pattern) as info:
        load_mnist(tmp_path)
    assert str(path) in str(info.value)


def test_corrupted_gzip_names_the_file(tmp_path):
    write_mnist(tmp_path, gz=MNIST_FILES)
    path = tmp_path / f"{MNIST_FILES[0]}.gz"
    path.write_bytes(path.read_bytes()[:30])
    with pytest.raises(ValueError, match="corrupted gzip") as info:
        load_mnist(tmp_path)
    assert str(path) in str(info.value)
    path.write_bytes(b"plainly not gzip")
    with pytest.raises(ValueError, match="corrupted gzip"):
        read_idx(path)


def test_inconsistent_mnist_files(tmp_path):
    write_mnist(tmp_path)
    (tmp_path / MNIST_FILES[1]).write_bytes(idx_bytes(np.zeros(4, np.uint8)))
    with pytest.raises(ValueError, match=f"{MNIST_FILES[1]}: 4 labels for 5 images"):
        load_mnist(tmp_path)
    (tmp_path / MNIST_FILES[1]).write_bytes(idx_bytes(np.full(5, 10, np.uint8)))
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 10\), found 10"):
        load_mnist(tmp_path)
    (tmp_path / MNIST_FILES[0]).write_bytes(idx_bytes(np.zeros((5, 28, 28), np.float32)))
    with pytest.raises(ValueError, match=f"{MNIST_FILES[0]}: expected uint8 images"):
        load_mnist(tmp_path)


def write_cifar(folder, *, n=2, seed=0):
    """Writes the six pickled batches; returns the NHWC images and labels per batch."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    written = {}
    for name in CIFAR10_FILES:
        images = rng.integers(0, 256, (n, 32, 32, 3), dtype=np.uint8)
        labels = rng.integers(0, 10, n).tolist()
        rows = images.transpose(0, 3, 1, 2).reshape(n, 3072)  # the official CHW row layout
        batch = {b"batch_label": name.encode(), b"labels": labels, b"data": rows, b"filenames": []}
        with open(folder / name, "wb") as f:
            pickle.dump(batch, f)
        written[name] = (images, labels)
    return written


@pytest.mark.parametrize("subdir", ["", "cifar-10-batches-py"])
def test_load_cifar10(tmp_path, subdir):
    written = write_cifar(tmp_path / subdir if subdir else tmp_path)
    ds = load_cifar10(tmp_path)
    assert ds.name == "cifar10" and ds.num_classes == 10
    assert ds.x_train.shape == (10, 32, 32, 3) and ds.x_test.shape == (2, 32, 32, 3)
    assert ds.x_train.dtype == np.float32
    train_images = np.concatenate([written[n][0] for n in CIFAR10_FILES[:5]])
    np.testing.assert_allclose(ds.x_train, train_images / 255.0, rtol=1e-6)
    np.testing.assert_allclose(ds.x_test, written["test_batch"][0] / 255.0, rtol=1e-6)
    np.testing.assert_array_equal(ds.y_train, sum((written[n][1] for n in CIFAR10_FILES[:5]), []))
    np.testing.assert_array_equal(ds.y_test, written["test_batch"][1])
    standardized = load_cifar10(tmp_path, standardize=True)
    np.testing.assert_allclose(standardized.x_train.mean((0, 1, 2)), 0.0, atol=1e-5)


def test_missing_cifar_files(tmp_path):
    with pytest.raises(
        FileNotFoundError, match=r"^expected data_batch_1 in .*does not exist.*CIFAR-10"
    ):
        load_cifar10(tmp_path / "nowhere")
    write_cifar(tmp_path / "cifar-10-batches-py")
    (tmp_path / "cifar-10-batches-py" / "test_batch").unlink()
    with pytest.raises(FileNotFoundError) as info:
        load_cifar10(tmp_path)
    assert str(info.value).startswith(f"expected test_batch in {tmp_path / 'cifar-10-batches-py'}:")


@pytest.mark.parametrize(
    ("content", "pattern"),
    [
        (b"garbage", "corrupted CIFAR-10 batch"),
        (pickle.dumps([1, 2]), "expected a dict"),
        (pickle.dumps({b"data": np.zeros((2, 3072), np.uint8)}), "lacks"),
        (
            pickle.dumps({b"data": np.zeros((2, 100), np.uint8), b"labels": [0, 1]}),
            "uint8 \\[n, 3072\\]",
        ),
        (pickle.dumps({b"data": np.zeros((2, 3072), np.uint8), b"labels": [0]}), "2 integers"),
        (pickle.dumps({b"data": np.zeros((1, 3072), np.uint8), b"labels": [10]}), r"\[0, 10\)"),
    ],
)
def test_corrupted_cifar_batch_names_the_file(tmp_path, content, pattern):
    write_cifar(tmp_path)
    path = tmp_path / "data_batch_3"
    path.write_bytes(content)
    with pytest.raises(ValueError, match=pattern) as info:
        load_cifar10(tmp_path)
    assert str(info.value).startswith(f"{path}: ")
