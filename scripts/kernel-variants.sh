#!/usr/bin/env bash
# The batch-invariance kernel check on other x86 ISA levels than this machine's -march=native
# build: ggml (the patched llama.cpp source) is built for each level into the cache (about 40 s
# each, once), linked with tests/kernels/probe_main.cpp and run. A level this CPU cannot execute
# is skipped, and the skip, naming the CPU and the missing flags, goes to $HEARTH_SKIPS (one line
# per skip: stage, test, reason; scripts/test.sh lists them in its summary).
# Usage: scripts/kernel-variants.sh [variant...]   (default: all)
set -euo pipefail
source "$(dirname "$0")/env.sh"

# name | ggml CMake options | extra compiler flags | /proc/cpuinfo flags needed | CPUs that have them
VARIANTS=(
  "avx2|-DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON||avx avx2 fma f16c bmi2|x86-64-v3: Intel Haswell, AMD Zen and later"
  "avx512|-DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON -DGGML_AVX512=ON||avx2 fma f16c bmi2 avx512f avx512cd avx512vl avx512dq avx512bw|Intel Xeon Skylake-SP, AMD Zen 4 and later"
  "avx512-vnni-bf16|-DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON -DGGML_AVX512=ON -DGGML_AVX512_VBMI=ON -DGGML_AVX512_VNNI=ON -DGGML_AVX512_BF16=ON||avx2 fma f16c bmi2 avx512f avx512cd avx512vl avx512dq avx512bw avx512vbmi avx512_vnni avx512_bf16|Intel Xeon Cooper Lake, AMD Zen 4 and later"
  "avx512-fp16|-DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON -DGGML_AVX512=ON -DGGML_AVX512_VBMI=ON -DGGML_AVX512_VNNI=ON -DGGML_AVX512_BF16=ON|-mavx512fp16|avx2 fma f16c bmi2 avx512f avx512cd avx512vl avx512dq avx512bw avx512vbmi avx512_vnni avx512_bf16 avx512_fp16|Intel Xeon Sapphire Rapids (4th generation) and later"
)

[[ -f $LLAMA_SRC/.hearth-patched ]] || die "llama.cpp source is not there; run scripts/llama.sh"
# (Not x86, or no /proc/cpuinfo: no flags, so every level is skipped with its reason.)
cpu_flags=" $(grep -m1 '^flags' /proc/cpuinfo 2>/dev/null | cut -d: -f2 || true) "
cpu_name="$(grep -m1 '^model name' /proc/cpuinfo 2>/dev/null | cut -d: -f2 | sed 's/^ *//' || true)"
cpu_name="${cpu_name:-$(uname -m)}"
wanted=("$@")
failed=()
for v in "${VARIANTS[@]}"; do
  IFS='|' read -r name options cflags needs where <<<"$v"
  if ((${#wanted[@]})) && [[ " ${wanted[*]} " != *" $name "* ]]; then continue; fi
  missing=()
  for f in $needs; do [[ $cpu_flags == *" $f "* ]] || missing+=("$f"); done
  if ((${#missing[@]})); then
    reason="CPU-dependent: this CPU ($cpu_name) lacks ${missing[*]}; the $name kernels are checked on $where"
    log "kernels/$name: skipped: $reason"
    [[ -n ${HEARTH_SKIPS:-} ]] && printf 'kernels\tkernels/%s\t%s\n' "$name" "$reason" >>"$HEARTH_SKIPS"
    continue
  fi
  key="$(printf '%s %s %s %s' "$LLAMA_NPM_VERSION" "$(llama_patch_key)" "$options $cflags" "$(g++ --version | head -1)" | sha256sum | cut -c1-10)"
  dir="$HEARTH_CACHE/llama.cpp-$LLAMA_NPM_VERSION/kernels-$name-$key"
  if [[ ! -f $dir/.hearth-built ]]; then
    log "kernels/$name: building ggml for $name"
    mkdir -p "$dir"
    # shellcheck disable=SC2086
    cmake -S "$LLAMA_SRC" -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=Release -DBUILD_SHARED_LIBS=OFF -DGGML_NATIVE=OFF \
      -DGGML_OPENMP=ON $options -DCMAKE_C_FLAGS="$cflags" -DCMAKE_CXX_FLAGS="$cflags" -DLLAMA_BUILD_TESTS=OFF \
      -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_TOOLS=OFF -DLLAMA_BUILD_SERVER=OFF -DLLAMA_BUILD_COMMON=OFF \
      -DLLAMA_BUILD_APP=OFF -DLLAMA_OPENSSL=OFF >"$dir/configure.log" 2>&1 || { cat "$dir/configure.log"; die "kernels/$name: configure failed"; }
    cmake --build "$dir" --target ggml-cpu ggml-base >/dev/null
    touch "$dir/.hearth-built"
  fi
  probe="$dir/hearth-kernel-probe"
  sources=("$HEARTH_ROOT/tests/kernels/probe_main.cpp" "$HEARTH_ROOT/src/engine/kernel_probe.cpp" "$HEARTH_ROOT/src/core/host.cpp")
  if [[ ! -x $probe || -n $(find "${sources[@]}" "$HEARTH_ROOT/src/engine/kernel_probe.h" -newer "$probe") ]]; then
    fp16_define=()
    [[ $cflags == *avx512fp16* ]] && fp16_define=(-DHEARTH_PROBE_AVX512_FP16)
    g++ -std=c++20 -O2 -Wall -Wextra -Werror "${fp16_define[@]}" -I"$HEARTH_ROOT/src" -isystem "$LLAMA_SRC/ggml/include" \
      "${sources[@]}" "$dir/ggml/src/libggml-cpu.a" "$dir/ggml/src/libggml-base.a" -lfmt -fopenmp -lpthread -ldl -lm -o "$probe"
  fi
  log "kernels/$name: running the kernel check"
  if "$probe"; then log "kernels/$name: passed"; else log "kernels/$name: FAILED"; failed+=("$name"); fi
done
((${#failed[@]} == 0)) || die "kernel check failed for: ${failed[*]}"
