{
  "targets": [
    {
      "target_name": "convnet_mpi",
      "sources": ["src/mpi.cc"],
      "include_dirs": ["<!@(node -p \"require('node-addon-api').include\")"],
      "defines": ["NAPI_VERSION=8", "NAPI_CPP_EXCEPTIONS", "NODE_ADDON_API_DISABLE_DEPRECATED", "OMPI_SKIP_MPICXX=1", "MPICH_SKIP_MPICXX=1"],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions", "-fno-rtti"],
      "cflags_cc": ["-std=c++17", "-O2", "-fexceptions", "<!@(mpicxx --showme:compile)"],
      "libraries": ["<!@(mpicc --showme:link)", "-ldl", "-lpthread"]
    }
  ]
}
