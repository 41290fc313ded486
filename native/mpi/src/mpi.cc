// convnet_mpi: the optional N-API binding of MPI (Open MPI from Debian) that data-parallel training
// runs on. Deliberately small: init/finalize, the world's rank/size and the node-local rank/size,
// allreduce (sum/max/min over float32, float64 or int32, in place, optionally scaled afterwards),
// broadcast (any typed array, as bytes), barrier and abort.
//
// Threading: every collective runs on ONE dedicated communication thread, in the order the JS
// thread submitted it. `submit*` returns at once with an id and `wait(id)` blocks until that
// operation finished, so gradient buckets can be reduced while backward is still running on the
// JS thread (and its OpenMP team). One ordered queue keeps the collectives in the same order on
// every rank, which MPI requires. MPI is initialized with MPI_THREAD_MULTIPLE when available (so
// that `abort` may be called from the JS thread while a collective is in flight), and at least
// MPI_THREAD_SERIALIZED (only the communication thread calls MPI while it runs).
//
// Buffers: the JS side keeps the typed array alive (a reference held until `wait`) and must not
// touch it before `wait` returns.
#include <dlfcn.h>
#include <mpi.h>
#include <napi.h>

#include <chrono>
#include <climits>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>

namespace {

enum class Kind { Allreduce, Broadcast, Barrier };
enum class Elem { F32, F64, I32, Bytes };

struct Op {
  Kind kind = Kind::Barrier;
  Elem elem = Elem::Bytes;
  void* data = nullptr;
  int64_t count = 0;  // elements (bytes for Elem::Bytes)
  MPI_Op op = MPI_SUM;
  int root = 0;
  double scale = 1.0;  // multiply the reduced values by this (1/size: an average)
  // Written by the communication thread under the mutex.
  bool done = false;
  std::string error;
  double seconds = 0;  // time spent inside MPI (queueing excluded)
};

struct Pending {
  std::shared_ptr<Op> op;
  Napi::Reference<Napi::Value> keep;  // the typed array, alive until wait()
};

/** The communication thread and its queue. Heap-allocated and never destroyed: a joinable
 * std::thread destroyed at process exit would call std::terminate. */
struct Comm {
  std::mutex mu;
  std::condition_variable work;
  std::condition_variable finished;
  std::deque<std::shared_ptr<Op>> queue;
  bool stop = false;
  std::thread thread;
  MPI_Comm comm = MPI_COMM_NULL;
};

Comm* g_comm = nullptr;
bool g_initialized = false;
bool g_finalized = false;
int g_rank = 0, g_size = 1;
int64_t g_nextId = 1;
std::unordered_map<int64_t, Pending> g_pending;  // JS thread only

MPI_Datatype mpiType(Elem e) {
  switch (e) {
    case Elem::F32: return MPI_FLOAT;
    case Elem::F64: return MPI_DOUBLE;
    case Elem::I32: return MPI_INT;
    default: return MPI_BYTE;
  }
}

size_t elemSize(Elem e) {
  switch (e) {
    case Elem::F32: return 4;
    case Elem::F64: return 8;
    case Elem::I32: return 4;
    default: return 1;
  }
}

std::string mpiError(int code) {
  char buf[MPI_MAX_ERROR_STRING];
  int len = 0;
  if (MPI_Error_string(code, buf, &len) != MPI_SUCCESS) return "MPI error " + std::to_string(code);
  return std::string(buf, len);
}

/** Runs one operation (communication thread). Counts beyond INT_MAX go in chunks. */
std::string execute(MPI_Comm comm, Op& op) {
  constexpr int64_t kChunk = int64_t(1) << 30;
  if (op.kind == Kind::Barrier) {
    int rc = MPI_Barrier(comm);
    return rc == MPI_SUCCESS ? "" : "barrier: " + mpiError(rc);
  }
  const MPI_Datatype t = mpiType(op.elem);
  const size_t es = elemSize(op.elem);
  char* p = static_cast<char*>(op.data);
  for (int64_t off = 0; off < op.count; off += kChunk) {
    const int n = static_cast<int>(std::min(kChunk, op.count - off));
    int rc;
    if (op.kind == Kind::Allreduce) {
      rc = MPI_Allreduce(MPI_IN_PLACE, p + off * es, n, t, op.op, comm);
      if (rc != MPI_SUCCESS) return "allreduce: " + mpiError(rc);
    } else {
      rc = MPI_Bcast(p + off * es, n, t, op.root, comm);
      if (rc != MPI_SUCCESS) return "broadcast: " + mpiError(rc);
    }
  }
  if (op.kind == Kind::Allreduce && op.scale != 1.0) {
    if (op.elem == Elem::F32) {
      float* f = static_cast<float*>(op.data);
      const float s = static_cast<float>(op.scale);
      for (int64_t i = 0; i < op.count; i++) f[i] *= s;
    } else if (op.elem == Elem::F64) {
      double* f = static_cast<double*>(op.data);
      for (int64_t i = 0; i < op.count; i++) f[i] *= op.scale;
    }
  }
  return "";
}

void commLoop(Comm* c) {
  for (;;) {
    std::shared_ptr<Op> op;
    {
      std::unique_lock<std::mutex> lk(c->mu);
      c->work.wait(lk, [c] { return c->stop || !c->queue.empty(); });
      if (c->queue.empty()) return;  // stop requested and nothing left
      op = c->queue.front();
    }
    const auto t0 = std::chrono::steady_clock::now();
    std::string err = execute(c->comm, *op);
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    {
      std::lock_guard<std::mutex> lk(c->mu);
      c->queue.pop_front();
      op->error = std::move(err);
      op->seconds = secs;
      op->done = true;
    }
    c->finished.notify_all();
  }
}

void requireInit(Napi::Env env, const char* what) {
  if (!g_initialized || g_finalized) {
    throw Napi::Error::New(env, std::string(what) + ": MPI is not initialized (call init() first)");
  }
}

/** Promotes libmpi's symbols to global scope: Open MPI's plugins (dlopen'ed components) resolve
 * symbols of libmpi / libopen-pal, which an addon loaded with RTLD_LOCAL would hide from them. */
void promoteLibmpi() {
  Dl_info info;
  if (dladdr(reinterpret_cast<void*>(&MPI_Init_thread), &info) != 0 && info.dli_fname != nullptr) {
    dlopen(info.dli_fname, RTLD_NOW | RTLD_GLOBAL | RTLD_NOLOAD);
  }
}

// init() -> { rank, size, localRank, localSize, host, threadLevel, library }
Napi::Value Init(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (g_finalized) throw Napi::Error::New(env, "init: MPI was already finalized (it cannot be initialized twice)");
  if (!g_initialized) {
    promoteLibmpi();
    int provided = 0;
    int rc = MPI_Init_thread(nullptr, nullptr, MPI_THREAD_MULTIPLE, &provided);
    if (rc != MPI_SUCCESS) throw Napi::Error::New(env, "MPI_Init_thread failed: " + mpiError(rc));
    if (provided < MPI_THREAD_SERIALIZED) {
      MPI_Finalize();
      throw Napi::Error::New(env, "MPI provides no thread support (MPI_THREAD_SERIALIZED or better is needed)");
    }
    g_initialized = true;
    MPI_Comm_rank(MPI_COMM_WORLD, &g_rank);
    MPI_Comm_size(MPI_COMM_WORLD, &g_size);
    g_comm = new Comm();
    // A private communicator whose errors come back as codes (reported to JS with the rank)
    // instead of Open MPI's default of aborting with its own banner.
    MPI_Comm_dup(MPI_COMM_WORLD, &g_comm->comm);
    MPI_Comm_set_errhandler(g_comm->comm, MPI_ERRORS_RETURN);
    g_comm->thread = std::thread(commLoop, g_comm);
  }
  MPI_Comm local;
  int localRank = 0, localSize = 1;
  if (MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, g_rank, MPI_INFO_NULL, &local) == MPI_SUCCESS) {
    MPI_Comm_rank(local, &localRank);
    MPI_Comm_size(local, &localSize);
    MPI_Comm_free(&local);
  }
  char host[MPI_MAX_PROCESSOR_NAME];
  int hostLen = 0;
  MPI_Get_processor_name(host, &hostLen);
  char lib[MPI_MAX_LIBRARY_VERSION_STRING];
  int libLen = 0;
  MPI_Get_library_version(lib, &libLen);
  std::string libStr(lib, libLen);
  const size_t nl = libStr.find_first_of("\n,");
  if (nl != std::string::npos) libStr.resize(nl);
  int level = 0;
  MPI_Query_thread(&level);
  Napi::Object o = Napi::Object::New(env);
  o.Set("rank", g_rank);
  o.Set("size", g_size);
  o.Set("localRank", localRank);
  o.Set("localSize", localSize);
  o.Set("host", std::string(host, hostLen));
  o.Set("threadLevel", level == MPI_THREAD_MULTIPLE ? "multiple" : level == MPI_THREAD_SERIALIZED ? "serialized" : "funneled");
  o.Set("library", libStr);
  return o;
}

/** The element kind and element count of a typed array argument. */
Elem elemOf(Napi::Env env, const Napi::Value& v, const char* what, bool bytesOk, void** data, int64_t* count) {
  if (!v.IsTypedArray()) throw Napi::TypeError::New(env, std::string(what) + ": expected a typed array");
  Napi::TypedArray ta = v.As<Napi::TypedArray>();
  Napi::ArrayBuffer ab = ta.ArrayBuffer();
  *data = static_cast<char*>(ab.Data()) + ta.ByteOffset();
  Elem e;
  switch (ta.TypedArrayType()) {
    case napi_float32_array: e = Elem::F32; break;
    case napi_float64_array: e = Elem::F64; break;
    case napi_int32_array: e = Elem::I32; break;
    default:
      if (!bytesOk) throw Napi::TypeError::New(env, std::string(what) + ": expected a Float32Array, Float64Array or Int32Array");
      e = Elem::Bytes;
  }
  *count = bytesOk && e == Elem::Bytes ? static_cast<int64_t>(ta.ByteLength()) : static_cast<int64_t>(ta.ElementLength());
  return e;
}

int64_t enqueue(Napi::Env env, std::shared_ptr<Op> op, Napi::Value keep) {
  const int64_t id = g_nextId++;
  Pending p;
  p.op = op;
  if (!keep.IsUndefined()) p.keep = Napi::Persistent(keep);
  g_pending.emplace(id, std::move(p));
  {
    std::lock_guard<std::mutex> lk(g_comm->mu);
    g_comm->queue.push_back(op);
  }
  g_comm->work.notify_one();
  (void)env;
  return id;
}

// submitAllreduce(typedArray, op: 'sum'|'max'|'min', scale) -> id
Napi::Value SubmitAllreduce(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  requireInit(env, "allreduce");
  auto op = std::make_shared<Op>();
  op->kind = Kind::Allreduce;
  op->elem = elemOf(env, info[0], "allreduce", false, &op->data, &op->count);
  const std::string name = info[1].IsString() ? info[1].As<Napi::String>().Utf8Value() : "sum";
  if (name == "sum") op->op = MPI_SUM;
  else if (name == "max") op->op = MPI_MAX;
  else if (name == "min") op->op = MPI_MIN;
  else throw Napi::TypeError::New(env, "allreduce: op must be 'sum', 'max' or 'min', got '" + name + "'");
  op->scale = info[2].IsNumber() ? info[2].As<Napi::Number>().DoubleValue() : 1.0;
  if (op->scale != 1.0 && op->elem == Elem::I32) throw Napi::TypeError::New(env, "allreduce: an Int32Array cannot be scaled");
  return Napi::Number::New(env, static_cast<double>(enqueue(env, op, info[0])));
}

// submitBroadcast(typedArray, root) -> id  (any typed array; moved as bytes)
Napi::Value SubmitBroadcast(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  requireInit(env, "broadcast");
  auto op = std::make_shared<Op>();
  op->kind = Kind::Broadcast;
  void* data;
  int64_t count;
  elemOf(env, info[0], "broadcast", true, &data, &count);
  Napi::TypedArray ta = info[0].As<Napi::TypedArray>();
  op->elem = Elem::Bytes;
  op->data = data;
  op->count = static_cast<int64_t>(ta.ByteLength());
  op->root = info[1].IsNumber() ? info[1].As<Napi::Number>().Int32Value() : 0;
  if (op->root < 0 || op->root >= g_size) {
    throw Napi::RangeError::New(env, "broadcast: root " + std::to_string(op->root) + " is not a rank of a world of " + std::to_string(g_size));
  }
  return Napi::Number::New(env, static_cast<double>(enqueue(env, op, info[0])));
}

// submitBarrier() -> id
Napi::Value SubmitBarrier(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  requireInit(env, "barrier");
  auto op = std::make_shared<Op>();
  op->kind = Kind::Barrier;
  return Napi::Number::New(env, static_cast<double>(enqueue(env, op, env.Undefined())));
}

// wait(id, timeoutSeconds) -> seconds the operation spent in MPI. Throws on an MPI error, and on
// a timeout (message starting with "timeout:"); 0 or a negative timeout waits forever.
Napi::Value Wait(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const int64_t id = info[0].As<Napi::Number>().Int64Value();
  const double timeout = info[1].IsNumber() ? info[1].As<Napi::Number>().DoubleValue() : 0;
  auto it = g_pending.find(id);
  if (it == g_pending.end()) throw Napi::Error::New(env, "wait: unknown operation id " + std::to_string(id));
  std::shared_ptr<Op> op = it->second.op;
  {
    std::unique_lock<std::mutex> lk(g_comm->mu);
    if (timeout > 0) {
      const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(timeout);
      if (!g_comm->finished.wait_until(lk, deadline, [&] { return op->done; })) {
        throw Napi::Error::New(env, "timeout: the operation did not complete within " + std::to_string(static_cast<int64_t>(timeout)) + " s");
      }
    } else {
      g_comm->finished.wait(lk, [&] { return op->done; });
    }
  }
  g_pending.erase(it);
  if (!op->error.empty()) throw Napi::Error::New(env, op->error);
  return Napi::Number::New(env, op->seconds);
}

// done(id) -> whether the operation finished (wait() must still be called to collect it)
Napi::Value Done(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const int64_t id = info[0].As<Napi::Number>().Int64Value();
  auto it = g_pending.find(id);
  if (it == g_pending.end()) throw Napi::Error::New(env, "done: unknown operation id " + std::to_string(id));
  std::lock_guard<std::mutex> lk(g_comm->mu);
  return Napi::Boolean::New(env, it->second.op->done);
}

// finalize(): waits for queued operations, stops the communication thread, MPI_Finalize.
Napi::Value Finalize(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!g_initialized || g_finalized) return env.Undefined();
  {
    std::lock_guard<std::mutex> lk(g_comm->mu);
    g_comm->stop = true;
  }
  g_comm->work.notify_one();
  g_comm->thread.join();
  g_pending.clear();
  MPI_Comm_free(&g_comm->comm);
  g_finalized = true;
  int rc = MPI_Finalize();
  if (rc != MPI_SUCCESS) throw Napi::Error::New(env, "MPI_Finalize failed: " + mpiError(rc));
  return env.Undefined();
}

// abort(code): MPI_Abort on the world (the launcher stops every rank). Does not return.
Napi::Value Abort(const Napi::CallbackInfo& info) {
  const int code = info[0].IsNumber() ? info[0].As<Napi::Number>().Int32Value() : 1;
  std::fflush(stdout);
  std::fflush(stderr);
  if (g_initialized && !g_finalized) MPI_Abort(MPI_COMM_WORLD, code);
  std::_Exit(code);
}

// state() -> 'uninitialized' | 'initialized' | 'finalized'
Napi::Value State(const Napi::CallbackInfo& info) {
  return Napi::String::New(info.Env(), g_finalized ? "finalized" : g_initialized ? "initialized" : "uninitialized");
}

Napi::Object InitAddon(Napi::Env env, Napi::Object exports) {
  exports.Set("init", Napi::Function::New(env, Init));
  exports.Set("submitAllreduce", Napi::Function::New(env, SubmitAllreduce));
  exports.Set("submitBroadcast", Napi::Function::New(env, SubmitBroadcast));
  exports.Set("submitBarrier", Napi::Function::New(env, SubmitBarrier));
  exports.Set("wait", Napi::Function::New(env, Wait));
  exports.Set("done", Napi::Function::New(env, Done));
  exports.Set("finalize", Napi::Function::New(env, Finalize));
  exports.Set("abort", Napi::Function::New(env, Abort));
  exports.Set("state", Napi::Function::New(env, State));
  return exports;
}

}  // namespace

NODE_API_MODULE(convnet_mpi, InitAddon)
