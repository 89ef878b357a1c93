using System.Reflection;
using M2M.Storage.Entities;
using M2M.Storage.Registry;

namespace M2M.Storage.Rocks.Tests;

/// <summary>
/// Device creation is one atomic registry write: a crash at any point of it leaves either no device
/// or a device that is in its domain's device map (never a device its domain does not list).
/// </summary>
public sealed class DeviceCreationAtomicityTests : IDisposable
{
    private readonly RocksBackend _backend = new();

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public void Dispose() => _backend.Dispose();

    private static RegistryPath P(string path) => RegistryPath.Parse(path);

    [Fact]
    public async Task A_crash_at_any_registry_write_of_a_creation_never_leaves_a_device_outside_its_domain()
    {
        var domain = await _backend.Domains.EnsureDefaultAsync(Ct);
        for (var crashAt = 1; ; crashAt++)
        {
            var ident = $"imei:{crashAt}";
            var registry = CrashingRegistry.Create(_backend.Registry, crashAt);
            var devices = new DeviceStore(registry, _backend.Domains);
            var crashed = false;
            try
            {
                await devices.GetOrCreateByIdentAsync(ident, autoRegister: true, Ct);
            }
            catch (SimulatedCrashException)
            {
                crashed = true;
            }
            _backend.Reopen();

            var device = await _backend.Devices.GetByIdentAsync(ident, Ct);
            if (device is not null)
            {
                Assert.Contains(device.Id, await _backend.Domains.GetDeviceIdsAsync(domain.Id, Ct));
            }
            var again = await _backend.Devices.GetOrCreateByIdentAsync(ident, autoRegister: true, Ct);
            Assert.Contains(again!.Id, await _backend.Domains.GetDeviceIdsAsync(domain.Id, Ct));
            if (!crashed)
            {
                // Creation took crashAt - 1 writes: one.
                Assert.Equal(2, crashAt);
                return;
            }
        }
    }

    [Fact]
    public async Task A_conditional_batch_applies_whole_or_not_at_all()
    {
        var registry = _backend.Registry;
        var batch = new RegistryBatch()
            .Expect(P("/idx/a/"), "id", null)
            .SetValue(P("/idx/a/"), "id", "1")
            .SetValue(P("/things/x/"), "v", "1");

        Assert.True(await registry.TryWriteAsync(batch, Ct));
        Assert.False(await registry.TryWriteAsync(batch, Ct));
        await Assert.ThrowsAsync<InvalidOperationException>(() => registry.WriteAsync(batch, Ct).AsTask());

        Assert.Equal(RegistryNodeStatus.Created, await registry.GetStatusAsync(P("/things/x/"), Ct));
        Assert.Equal(["x"], await registry.GetChildrenAsync(P("/things/"), cancellationToken: Ct));
        Assert.False(await registry.TryWriteAsync(new RegistryBatch().Expect(P("/idx/a/"), "id", "2").SetValue(P("/other/"), "v", "1"), Ct));
        Assert.Equal(RegistryNodeStatus.Undefined, await registry.GetStatusAsync(P("/other/"), Ct));
        Assert.True(await registry.TryWriteAsync(new RegistryBatch().Expect(P("/idx/a/"), "id", "1").DeleteValue(P("/idx/a/"), "id"), Ct));
        Assert.Null(await registry.GetValueAsync(P("/idx/a/"), "id", Ct));
    }

    /// <summary>Forwards to a registry and throws <see cref="SimulatedCrashException"/> instead of its n-th write.</summary>
    public class CrashingRegistry : DispatchProxy
    {
        private IRegistry _inner = null!;
        private int _left;

        public static IRegistry Create(IRegistry inner, int crashAt)
        {
            var proxy = Create<IRegistry, CrashingRegistry>();
            var self = (CrashingRegistry)(object)proxy;
            self._inner = inner;
            self._left = crashAt;
            return proxy;
        }

        protected override object? Invoke(MethodInfo? targetMethod, object?[]? args)
        {
            ArgumentNullException.ThrowIfNull(targetMethod);
            var name = targetMethod.Name;
            var reads = name.StartsWith("Get", StringComparison.Ordinal) || name == "ExportJsonAsync";
            if (!reads && --_left == 0)
            {
                throw new SimulatedCrashException(name);
            }
            try
            {
                return targetMethod.Invoke(_inner, args);
            }
            catch (TargetInvocationException e) when (e.InnerException is not null)
            {
                throw e.InnerException;
            }
        }
    }
}
