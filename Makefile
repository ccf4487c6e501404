# guide-pl: `make install` (virtual environment + torch first + the package), then `make test` or `make unlearn`.
PYTHON ?= python3
VENV ?= .venv
TORCH_VERSION ?= 2.13.0
BIN := $(VENV)/bin
ID ?= celebahq_sample
ARGS ?=
EG3D_CONFIG ?= small

.PHONY: install test unlearn lint bench clean

install:
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --upgrade "pip>=23"
	# torch first, pinned: the package's own range is then already satisfied and pulls nothing else.
	$(BIN)/python -m pip install "torch==$(TORCH_VERSION)"
	$(BIN)/python -m pip install -e ".[dev]"
	$(BIN)/guide-pl fetch-weights mobilestylegan
	$(BIN)/guide-pl fetch-weights lpips
	$(BIN)/guide-pl fetch-weights mobileface
	@if $(BIN)/python -m pip show torchvision >/dev/null 2>&1; then \
		echo "torchvision got installed: it breaks torchmetrics/lightning with this torch build" >&2; exit 1; fi

test:
	# The huge-page allocator also halves the kernel time of the EG3D tests.
	THP_MEM_ALLOC_ENABLE=1 $(BIN)/python -m pytest -q

unlearn:
	# PyTorch's huge-page allocator halves CPU time here (most of it is otherwise spent in the kernel).
	THP_MEM_ALLOC_ENABLE=1 $(BIN)/guide-pl unlearn id=$(ID) $(ARGS)

lint:
	$(BIN)/ruff check src tests

bench:
	THP_MEM_ALLOC_ENABLE=1 $(BIN)/python -m guide_pl.tools.bench --out experiments/bench/mobilestylegan.json
	THP_MEM_ALLOC_ENABLE=1 $(BIN)/python -m guide_pl.tools.bench_step --out experiments/bench/guide_step.json
	# One EG3D step, the official loop's structure against guide-pl's (EG3D_CONFIG=ffhq: the real 512/128 shapes).
	THP_MEM_ALLOC_ENABLE=1 $(BIN)/python -m guide_pl.tools.bench_eg3d --config $(EG3D_CONFIG) --out experiments/bench/eg3d_step.json

clean:
	rm -rf build dist src/*.egg-info .pytest_cache .ruff_cache
