// A CPU emulation of the part of the CUDA execution model the op package's kernels use, so that
// the kernel sources compile with the host compiler and run on CPU tensors (see README.md).
//
// - Each CUDA thread is a fiber (ucontext) on its own stack; the blocks of a launch run one after
//   another, in launch order or a shuffled one; the threads of a block are resumed in ascending
//   or descending order (schedule()). Fibers never preempt each other, so atomics are plain
//   read-modify-writes.
// - __syncthreads() suspends the fiber until every live thread of the block waits at the same
//   barrier (threads that have returned count as arrived). Threads waiting at different barriers
//   are an error.
// - __shfl_*_sync() suspends the fiber until the warp has nothing left to run, then exchanges the
//   values of the waiting lanes. Every lane named in the mask must wait at the same shuffle with
//   the same mask: a lane that has returned, does not exist or waits elsewhere is an error.
// - The dynamic shared memory of a block (``extern __shared__``, rewritten into
//   emu::dynamic_shared<T>()) ends at an inaccessible page and starts filled with garbage.
// - Launch limits (grid, 1024 threads, 48 KiB of shared memory) are checked as a GPU does: the
//   launch does not run and C10_CUDA_KERNEL_LAUNCH_CHECK() raises.
// - A trap (SIGILL, e.g. the sanitizer's on a misaligned vector load) or a segmentation fault
//   inside a kernel (an inaccessible page after the shared memory, below each fiber's stack, or
//   beside a tensor: guarded_allocator.h) stops the launch with an error naming the kernel, block
//   and thread.
#pragma once

#include <signal.h>
#include <sys/mman.h>
#include <ucontext.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <map>
#include <mutex>
#include <numeric>
#include <random>
#include <sstream>
#include <stdexcept>
#include <string>
#include <tuple>
#include <type_traits>
#include <vector>

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __launch_bounds__(...)

struct uint3 {
  unsigned int x = 0, y = 0, z = 0;
};

struct dim3 {
  unsigned int x, y, z;
  constexpr dim3(unsigned int x_ = 1, unsigned int y_ = 1, unsigned int z_ = 1) : x(x_), y(y_), z(z_) {}
};

// The built-in variables of the running fiber, set by the scheduler before each resume.
inline thread_local uint3 threadIdx, blockIdx;
inline thread_local dim3 blockDim, gridDim;
constexpr int warpSize = 32;

namespace emu {

constexpr int64_t kMaxThreadsPerBlock = 1024;
constexpr int64_t kMaxSharedBytes = 48 * 1024;
constexpr int64_t kMaxGridX = 2147483647LL, kMaxGridYZ = 65535;
constexpr size_t kStackBytes = 256 * 1024;

// A launch dimension as written at the launch, before any narrowing to unsigned int.
struct Dim {
  int64_t x = 1, y = 1, z = 1;
  Dim(dim3 d) : x(d.x), y(d.y), z(d.z) {}  // NOLINT: implicit, as at a real launch
  template <typename I, typename = std::enable_if_t<std::is_integral_v<I>>>
  Dim(I v) : x(static_cast<int64_t>(v)) {}  // NOLINT
  int64_t count() const { return x * y * z; }
};

struct Config {
  Dim grid, block;
  int64_t shared_bytes = 0;
  Config(Dim g, Dim b, size_t s = 0) : grid(g), block(b), shared_bytes(static_cast<int64_t>(s)) {}
  template <typename Stream>
  Config(Dim g, Dim b, size_t s, const Stream&) : grid(g), block(b), shared_bytes(static_cast<int64_t>(s)) {}
};

// Order in which blocks and threads are run; results must not depend on it.
struct Schedule {
  bool reverse_threads = false;
  uint64_t block_shuffle_seed = 0;  // 0: blocks in launch order
};

// The state shared by the translation units of one emulation build (inline: one copy per build).
struct Registry {
  Schedule schedule;
  std::map<std::string, int64_t> launches;  // kernel with its template arguments -> launches
  std::string pending_error;                // a launch that did not run, as cudaGetLastError reports it
  int mutation = 0;                         // the planted bug switched on in the mutant copies (0: none)
  std::recursive_mutex mutex;
};
inline Registry& registry() {
  static Registry r;
  return r;
}
inline int mutation() { return registry().mutation; }

[[noreturn]] inline void fail(const std::string& message) { throw std::runtime_error(message); }

// Raises the error of the last launch that did not run (C10_CUDA_KERNEL_LAUNCH_CHECK).
inline void check_last_launch() {
  std::string error;
  std::swap(error, registry().pending_error);
  if (!error.empty()) fail("CUDA emulation: " + error);
}

enum class Wait { kReady, kBarrier, kShuffle, kDone };
enum class Shuffle { kXor, kDown, kUp, kIndex };

struct Fiber {
  ucontext_t context;
  Wait wait = Wait::kReady;
  const char* site = nullptr;  // where it waits: __FILE__ ":" __LINE__
  unsigned mask = 0;
  Shuffle kind = Shuffle::kXor;
  int operand = 0, width = 32;
  uint64_t value = 0;  // the shuffled value's bytes, then the result
};

// The fibers of the running block and the scheduler's context.
struct Block {
  std::vector<Fiber> fibers;
  ucontext_t scheduler;
  int64_t current = -1;
  std::string error;
  void (*body)(void*) = nullptr;
  void* argument = nullptr;
  unsigned char* shared = nullptr;  // dynamic shared memory of this launch
};
inline thread_local Block* running_block = nullptr;
inline thread_local volatile sig_atomic_t trapped_signal = 0;

inline Fiber& self() { return running_block->fibers[running_block->current]; }

// Suspends the running fiber until the scheduler resumes it.
inline void yield_to_scheduler() {
  Block* block = running_block;
  swapcontext(&block->fibers[block->current].context, &block->scheduler);
}

inline void fiber_entry() {
  Block* block = running_block;
  try {
    block->body(block->argument);
  } catch (const std::exception& e) {
    block->error = std::string("an exception in the kernel: ") + e.what();
  }
  self().wait = Wait::kDone;
  // uc_link returns to the scheduler.
}

// A synchronous signal inside a kernel: back to the scheduler, which reports it.
inline void on_kernel_signal(int signal_number) {
  trapped_signal = signal_number;
  setcontext(&running_block->scheduler);
}

inline void barrier(const char* site) {
  Fiber& f = self();
  f.wait = Wait::kBarrier;
  f.site = site;
  yield_to_scheduler();
}

template <typename T>
T shuffle(const char* site, Shuffle kind, unsigned mask, T value, int operand, int width = 32) {
  static_assert(std::is_trivially_copyable_v<T> && sizeof(T) <= sizeof(uint64_t), "shuffles move up to 8 bytes");
  Fiber& f = self();
  f.wait = Wait::kShuffle;
  f.site = site;
  f.mask = mask;
  f.kind = kind;
  f.operand = operand;
  f.width = width;
  std::memcpy(&f.value, &value, sizeof(T));
  yield_to_scheduler();
  T result;
  std::memcpy(&result, &self().value, sizeof(T));
  return result;
}

// The lane whose value ``lane`` receives (its own when the source lies outside its segment).
inline int source_lane(const Fiber& f, int lane) {
  const int width = f.width, segment = lane / width * width;
  int source = lane;
  switch (f.kind) {
    case Shuffle::kXor: source = lane ^ f.operand; break;
    case Shuffle::kDown: source = lane + f.operand; break;
    case Shuffle::kUp: source = lane - f.operand; break;
    case Shuffle::kIndex: source = segment + ((f.operand % width) + width) % width; break;
  }
  return (source < segment || source >= segment + width) ? lane : source;
}

inline std::string describe(int64_t thread);

inline bool same_site(const char* a, const char* b) { return a && b && std::strcmp(a, b) == 0; }

// Exchanges the values of a warp whose lanes all wait (or have returned); false if none shuffles.
inline bool resolve_warp(Block& block, int64_t first, int64_t count) {
  bool any = false;
  for (int64_t t = first; t < first + count; ++t) any = any || block.fibers[t].wait == Wait::kShuffle;
  if (!any) return false;
  std::vector<uint64_t> values(32);
  for (int64_t t = first; t < first + count; ++t) values[t - first] = block.fibers[t].value;
  for (int64_t t = first; t < first + count; ++t) {
    Fiber& f = block.fibers[t];
    if (f.wait != Wait::kShuffle) continue;
    const int lane = static_cast<int>(t - first);
    if (f.width <= 0 || f.width > 32 || (f.width & (f.width - 1)) != 0) fail(describe(t) + ": bad shuffle width");
    if (!(f.mask >> lane & 1u)) fail(describe(t) + " shuffles with a mask that leaves out its own lane");
    for (int other = 0; other < 32; ++other) {
      if (!(f.mask >> other & 1u)) continue;
      std::ostringstream why;
      if (other >= count) {
        why << " names lane " << other << " in its shuffle mask, which the block does not have";
      } else {
        const Fiber& o = block.fibers[first + other];
        if (o.wait == Wait::kDone) {
          why << " names lane " << other << " in its shuffle mask, which has exited";
        } else if (o.wait != Wait::kShuffle || !same_site(o.site, f.site) || o.mask != f.mask) {
          why << " (shuffle at " << f.site << ") names lane " << other << ", which waits at "
              << (o.site ? o.site : "?") << " instead";
        }
      }
      if (!why.str().empty()) fail(describe(t) + why.str());
    }
    const int source = source_lane(f, lane);
    if (!(f.mask >> source & 1u)) fail(describe(t) + " reads lane " + std::to_string(source) + " outside its mask");
  }
  for (int64_t t = first; t < first + count; ++t) {
    Fiber& f = block.fibers[t];
    if (f.wait != Wait::kShuffle) continue;
    f.value = values[source_lane(f, static_cast<int>(t - first))];
    f.wait = Wait::kReady;
  }
  return true;
}

// Runs the fibers of one block to completion.
inline void run_block(Block& block) {
  const int64_t threads = static_cast<int64_t>(block.fibers.size());
  const bool reverse = registry().schedule.reverse_threads;
  for (;;) {
    for (int64_t i = 0; i < threads; ++i) {
      const int64_t t = reverse ? threads - 1 - i : i;
      Fiber& f = block.fibers[t];
      if (f.wait != Wait::kReady) continue;
      block.current = t;
      threadIdx = uint3{static_cast<unsigned>(t % blockDim.x), static_cast<unsigned>(t / blockDim.x % blockDim.y),
                        static_cast<unsigned>(t / (blockDim.x * blockDim.y))};
      trapped_signal = 0;
      swapcontext(&block.scheduler, &f.context);
      if (trapped_signal != 0) {
        f.wait = Wait::kDone;
        fail(describe(t) + (trapped_signal == SIGILL ? " trapped (a sanitizer check: misaligned or out-of-bounds "
                                                              "access)" : " faulted (invalid memory access)"));
      }
      if (!block.error.empty()) fail(describe(t) + ": " + block.error);
    }
    bool exchanged = false;
    for (int64_t first = 0; first < threads; first += 32) {
      exchanged = resolve_warp(block, first, std::min<int64_t>(32, threads - first)) || exchanged;
    }
    if (exchanged) continue;
    const char* site = nullptr;
    int64_t live = 0;
    for (int64_t t = 0; t < threads; ++t) {
      const Fiber& f = block.fibers[t];
      if (f.wait == Wait::kDone) continue;
      ++live;
      if (f.wait != Wait::kBarrier) fail(describe(t) + " waits at " + f.site + " forever");
      if (site == nullptr) site = f.site;
      if (!same_site(f.site, site)) fail(describe(t) + " waits at the barrier " + f.site + ", others at " + site);
    }
    if (live == 0) return;
    for (Fiber& f : block.fibers) {
      if (f.wait == Wait::kBarrier) f.wait = Wait::kReady;
    }
  }
}

// Fiber stacks (with a guard page below each) and the dynamic shared memory (followed by a guard
// page), kept across launches.
struct Memory {
  unsigned char* stacks = nullptr;
  int64_t stack_count = 0;
  unsigned char* shared_region = nullptr;

  static size_t page() { return static_cast<size_t>(sysconf(_SC_PAGESIZE)); }
  unsigned char* stack(int64_t t) { return stacks + t * (kStackBytes + page()) + page(); }

  void reserve(int64_t threads) {
    if (threads <= stack_count) return;
    const size_t each = kStackBytes + page();
    if (stacks) munmap(stacks, each * stack_count);
    void* p = mmap(nullptr, each * threads, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED) fail("cannot map fiber stacks");
    stacks = static_cast<unsigned char*>(p);
    for (int64_t t = 0; t < threads; ++t) mprotect(stacks + t * each, page(), PROT_NONE);
    stack_count = threads;
  }

  // ``bytes`` of shared memory that end where an inaccessible page starts.
  unsigned char* shared(int64_t bytes) {
    if (!shared_region) {
      const size_t size = kMaxSharedBytes + page();
      void* p = mmap(nullptr, size + page(), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
      if (p == MAP_FAILED) fail("cannot map shared memory");
      shared_region = static_cast<unsigned char*>(p);
      const size_t guard = (size + page() - 1) / page() * page();
      mprotect(shared_region + guard, page(), PROT_NONE);
      shared_end = shared_region + guard;
    }
    const int64_t rounded = (bytes + 7) / 8 * 8;  // so that an int64 or double past the end faults
    return shared_end - rounded;
  }
  unsigned char* shared_end = nullptr;
};
inline Memory& memory() {
  static Memory m;
  return m;
}

template <typename T>
T* dynamic_shared() {
  return reinterpret_cast<T*>(running_block->shared);
}

inline std::string describe(int64_t thread) {
  std::ostringstream s;
  s << "block (" << blockIdx.x << ", " << blockIdx.y << ", " << blockIdx.z << ") thread " << thread << " (warp "
    << thread / 32 << ", lane " << thread % 32 << ")";
  return s.str();
}

// The kernel's name with its template arguments, from the launch's own signature.
template <auto Kernel>
std::string kernel_name() {
  const std::string pretty = __PRETTY_FUNCTION__;
  const std::string key = "Kernel = ";
  const size_t start = pretty.find(key);
  if (start == std::string::npos) return pretty;
  size_t end = pretty.find_first_of(";]", start);
  std::string name = pretty.substr(start + key.size(), end - start - key.size());
  if (!name.empty() && name[0] == '&') name = name.substr(1);
  const size_t colons = name.rfind("::", name.find('<'));  // drop the namespaces
  return colons == std::string::npos ? name : name.substr(colons + 2);
}

// Catches traps and faults of the kernels during a launch, on a stack of its own (a fiber that
// overflows its stack cannot run the handler there); restores the host's handlers afterwards.
struct SignalScope {
  static constexpr size_t kHandlerStack = 64 * 1024;
  struct sigaction old_ill, old_segv, old_bus;
  stack_t old_stack;
  std::vector<unsigned char> handler_stack = std::vector<unsigned char>(kHandlerStack);
  SignalScope() {
    stack_t stack{};
    stack.ss_sp = handler_stack.data();
    stack.ss_size = handler_stack.size();
    sigaltstack(&stack, &old_stack);
    struct sigaction action {};
    action.sa_handler = on_kernel_signal;
    sigemptyset(&action.sa_mask);
    action.sa_flags = SA_NODEFER | SA_ONSTACK;
    sigaction(SIGILL, &action, &old_ill);
    sigaction(SIGSEGV, &action, &old_segv);
    sigaction(SIGBUS, &action, &old_bus);
  }
  ~SignalScope() {
    sigaction(SIGILL, &old_ill, nullptr);
    sigaction(SIGSEGV, &old_segv, nullptr);
    sigaction(SIGBUS, &old_bus, nullptr);
    sigaltstack(&old_stack, nullptr);
  }
};

inline std::string check_config(const Config& c) {
  std::ostringstream s;
  if (c.grid.x < 1 || c.grid.x > kMaxGridX || c.grid.y < 1 || c.grid.y > kMaxGridYZ || c.grid.z < 1 ||
      c.grid.z > kMaxGridYZ) {
    s << "invalid grid (" << c.grid.x << ", " << c.grid.y << ", " << c.grid.z << ")";
  } else if (c.block.x < 1 || c.block.y < 1 || c.block.z < 1 || c.block.z > 64 ||
             c.block.count() > kMaxThreadsPerBlock) {
    s << "invalid block (" << c.block.x << ", " << c.block.y << ", " << c.block.z << "): 1 to "
      << kMaxThreadsPerBlock << " threads";
  } else if (c.shared_bytes < 0 || c.shared_bytes > kMaxSharedBytes) {
    s << c.shared_bytes << " bytes of dynamic shared memory (at most " << kMaxSharedBytes << ")";
  }
  return s.str();
}

// Runs ``body(argument)`` as every thread of the launch.
inline void run_launch(const std::string& name, const Config& config, void (*body)(void*), void* argument) {
  Registry& r = registry();
  std::lock_guard<std::recursive_mutex> lock(r.mutex);
  if (!r.pending_error.empty()) {
    fail("CUDA emulation: launch of " + name + " after an unchecked launch error: " + r.pending_error);
  }
  const std::string invalid = check_config(config);
  if (!invalid.empty()) {
    r.pending_error = "launch of " + name + " failed: " + invalid;
    return;
  }
  ++r.launches[name];
  const int64_t threads = config.block.count(), blocks = config.grid.count();
  Memory& m = memory();
  m.reserve(threads);
  std::vector<int64_t> order(blocks);
  std::iota(order.begin(), order.end(), 0);
  if (r.schedule.block_shuffle_seed != 0) {
    std::mt19937_64 generator(r.schedule.block_shuffle_seed);
    std::shuffle(order.begin(), order.end(), generator);
  }
  Block block;
  block.body = body;
  block.argument = argument;
  block.shared = m.shared(config.shared_bytes);
  block.fibers.resize(threads);
  gridDim = dim3(config.grid.x, config.grid.y, config.grid.z);
  blockDim = dim3(config.block.x, config.block.y, config.block.z);
  Block* outer = running_block;
  running_block = &block;
  SignalScope signals;
  try {
    for (const int64_t b : order) {
      blockIdx = uint3{static_cast<unsigned>(b % config.grid.x),
                       static_cast<unsigned>(b / config.grid.x % config.grid.y),
                       static_cast<unsigned>(b / (config.grid.x * config.grid.y))};
      std::memset(block.shared, 0xA5, config.shared_bytes);  // uninitialised shared memory is garbage
      for (int64_t t = 0; t < threads; ++t) {
        Fiber& f = block.fibers[t];
        f = Fiber{};
        getcontext(&f.context);
        f.context.uc_stack.ss_sp = m.stack(t);
        f.context.uc_stack.ss_size = kStackBytes;
        f.context.uc_link = &block.scheduler;
        makecontext(&f.context, fiber_entry, 0);
      }
      run_block(block);
    }
  } catch (const std::exception& e) {
    running_block = outer;
    fail("CUDA emulation: " + name + ": " + e.what());
  }
  running_block = outer;
}

// ``kernel<<<config>>>(args)`` is rewritten into ``emu::launch<&kernel>(emu::Config{config})(args)``.
template <auto Kernel>
struct Launch {
  Config config;
  template <typename... Args>
  void operator()(Args&&... args) const {
    std::tuple<std::decay_t<Args>...> parameters(std::forward<Args>(args)...);
    using Parameters = decltype(parameters);
    // Each thread gets its own copy of the parameters, as on the GPU.
    run_launch(kernel_name<Kernel>(), config,
               [](void* p) { std::apply([](auto... copy) { Kernel(copy...); }, *static_cast<Parameters*>(p)); },
               &parameters);
  }
};
template <auto Kernel>
Launch<Kernel> launch(Config config) {
  return Launch<Kernel>{config};
}

// Fibers never preempt each other: a read-modify-write is atomic.
template <typename T>
T atomic_add(T* address, T value) {
  const T old = *address;
  *address = old + value;
  return old;
}

}  // namespace emu

#define EMU_STRINGIFY2(x) #x
#define EMU_STRINGIFY(x) EMU_STRINGIFY2(x)
#define EMU_SITE __FILE__ ":" EMU_STRINGIFY(__LINE__)

#define __syncthreads() ::emu::barrier(EMU_SITE)
#define __shfl_xor_sync(...) ::emu::shuffle(EMU_SITE, ::emu::Shuffle::kXor, __VA_ARGS__)
#define __shfl_down_sync(...) ::emu::shuffle(EMU_SITE, ::emu::Shuffle::kDown, __VA_ARGS__)
#define __shfl_up_sync(...) ::emu::shuffle(EMU_SITE, ::emu::Shuffle::kUp, __VA_ARGS__)
#define __shfl_sync(...) ::emu::shuffle(EMU_SITE, ::emu::Shuffle::kIndex, __VA_ARGS__)

inline float atomicAdd(float* address, float value) { return emu::atomic_add(address, value); }
inline double atomicAdd(double* address, double value) { return emu::atomic_add(address, value); }
inline int atomicAdd(int* address, int value) { return emu::atomic_add(address, value); }
inline unsigned int atomicAdd(unsigned int* address, unsigned int value) { return emu::atomic_add(address, value); }
