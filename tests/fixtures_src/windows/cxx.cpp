#include <string>
#include <thread>
extern "C" __declspec(dllexport) int cxx_len(void) {
    int n = 0;
    std::thread t([&n] { std::string s("hello, c++"); n = (int)s.size(); });
    t.join();
    return n;
}
