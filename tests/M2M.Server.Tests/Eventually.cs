using System.Diagnostics;

namespace M2M.Server.Tests;

internal static class Eventually
{
    /// <summary>Waits until <paramref name="condition"/> holds (checked every 100 ms); fails the test with <paramref name="what"/> after <paramref name="timeout"/>.</summary>
    public static async Task TrueAsync(Func<Task<bool>> condition, string what, TimeSpan timeout)
    {
        var clock = Stopwatch.StartNew();
        while (!await condition())
        {
            if (clock.Elapsed > timeout)
            {
                Assert.Fail($"Not within {timeout}: {what}");
            }
            await Task.Delay(100, TestContext.Current.CancellationToken);
        }
    }

    public static Task TrueAsync(Func<bool> condition, string what, TimeSpan timeout) =>
        TrueAsync(() => Task.FromResult(condition()), what, timeout);
}
