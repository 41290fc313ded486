{
  "targets": [
    {
      "target_name": "convnet_native",
      "sources": ["<!@(node -p \"require('fs').readdirSync('src').filter(f=>f.endsWith('.cc')).map(f=>'src/'+f).join(' ')\")"],
      "include_dirs": ["<!@(node -p \"require('node-addon-api').include\")"],
      "defines": ["NAPI_VERSION=8", "NAPI_CPP_EXCEPTIONS", "NODE_ADDON_API_DISABLE_DEPRECATED"],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions", "-fno-rtti"],
      "cflags_cc": ["-std=c++17", "-O3", "-fno-math-errno", "-fopenmp", "-fexceptions"],
      "libraries": ["-ldnnl", "-fopenmp"]
    }
  ]
}
