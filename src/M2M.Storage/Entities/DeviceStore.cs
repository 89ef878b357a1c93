using System.Collections.Concurrent;
using System.Globalization;
using System.Text.RegularExpressions;
using M2M.Storage.Registry;

namespace M2M.Storage.Entities;

/// <summary>
/// <see cref="IDeviceStore"/> over any <see cref="IRegistry"/>. Device nodes are upgraded on read
/// (<see cref="CurrentVersion"/>); creation by ident is serialised per ident in the process and is
/// one atomic registry write, conditional on the ident index being unchanged since it was read: the
/// index, the device node with its values and its entry in the domain's device map appear together.
/// </summary>
public sealed partial class DeviceStore : IDeviceStore
{
    /// <summary>
    /// Version of device nodes written by this code. 2: the display name lives in <c>display_name</c>
    /// (version 1 kept it in <c>name</c>) and <c>created_date</c> is always set.
    /// </summary>
    public const int CurrentVersion = 2;

    private const string Kind = "device";
    private const int MaxRegexCache = 4096;
    private static readonly TimeSpan RegexTimeout = TimeSpan.FromMilliseconds(100);

    private readonly IRegistry _registry;
    private readonly IDomainStore _domains;
    private readonly TimeProvider _time;
    private readonly EntityLocks _locks = new();
    private readonly ConcurrentDictionary<string, Regex?> _regexes = new(StringComparer.Ordinal);
    private readonly UpgradeStep[] _steps;

    /// <summary>Creates the store.</summary>
    public DeviceStore(IRegistry registry, IDomainStore domains, TimeProvider? timeProvider = null)
    {
        _registry = registry;
        _domains = domains;
        _time = timeProvider ?? TimeProvider.System;
        _steps = [UpgradeV1ToV2];
    }

    private DateTimeOffset Now => DateTimeOffset.FromUnixTimeMilliseconds(_time.GetUtcNow().ToUnixTimeMilliseconds());

    /// <summary>v1 → v2: move the legacy <c>name</c> to <c>display_name</c>; fill a missing <c>created_date</c>.</summary>
    private async ValueTask UpgradeV1ToV2(IRegistry registry, RegistryPath path, IReadOnlyDictionary<string, string> values, CancellationToken cancellationToken)
    {
        var batch = new RegistryBatch();
        if (values.TryGetValue("name", out var legacy))
        {
            if (!values.ContainsKey("display_name") && legacy.Length > 0)
            {
                batch.SetValue(path, "display_name", legacy);
            }
            batch.DeleteValue(path, "name");
        }
        if (!values.ContainsKey("created_date"))
        {
            batch.SetValue(path, "created_date", EntityValues.FormatTime(Now));
        }
        await registry.WriteAsync(batch, cancellationToken).ConfigureAwait(false);
    }

    private static RegistryPath Node(Guid id, string child) => EntityPaths.Device(id).Child(child);

    // ------------------------------------------------------------------ devices

    public async ValueTask<Device?> GetAsync(Guid id, CancellationToken cancellationToken = default)
    {
        var path = EntityPaths.Device(id);
        var values = await EntityVersioning.LoadAsync(_registry, path, CurrentVersion, _steps, cancellationToken).ConfigureAwait(false);
        if (values is null || EntityValues.Text(values, "ident") is not { } ident)
        {
            return null;
        }
        return new Device(
            id,
            ident,
            EntityValues.Text(values, "display_name"),
            EntityValues.Id(values, "domain") ?? Guid.Empty,
            EntityValues.Text(values, "owner"),
            EntityValues.Time(values, "created_date") ?? DateTimeOffset.UnixEpoch,
            EntityValues.Text(values, "protocol"));
    }

    private async ValueTask<Device> RequireAsync(Guid id, CancellationToken cancellationToken)
        => await GetAsync(id, cancellationToken).ConfigureAwait(false) ?? throw new EntityNotFoundException(Kind, id.ToString("D"));

    private async ValueTask EnsureExistsAsync(Guid id, CancellationToken cancellationToken)
    {
        if (await _registry.GetStatusAsync(EntityPaths.Device(id), cancellationToken).ConfigureAwait(false) != RegistryNodeStatus.Created)
        {
            throw new EntityNotFoundException(Kind, id.ToString("D"));
        }
    }

    public async ValueTask<Device?> GetByIdentAsync(string ident, CancellationToken cancellationToken = default)
    {
        DeviceIds.ValidateIdent(ident);
        if (await UniqueIndex.ReadAsync(_registry, EntityPaths.DeviceByIdent(ident), cancellationToken).ConfigureAwait(false) is not { } id)
        {
            return null;
        }
        var device = await GetAsync(id, cancellationToken).ConfigureAwait(false);
        return device?.Ident == ident ? device : null;
    }

    public async ValueTask<Device?> GetOrCreateByIdentAsync(string ident, bool autoRegister, CancellationToken cancellationToken = default)
    {
        var existing = await GetByIdentAsync(ident, cancellationToken).ConfigureAwait(false);
        if (existing is not null || !autoRegister)
        {
            return existing;
        }
        var domain = await _domains.EnsureDefaultAsync(cancellationToken).ConfigureAwait(false);
        using (await _locks.AcquireAsync(ident, cancellationToken).ConfigureAwait(false))
        {
            try
            {
                return await GetByIdentAsync(ident, cancellationToken).ConfigureAwait(false)
                    ?? await CreateLockedAsync(ident, null, domain.Id, cancellationToken).ConfigureAwait(false);
            }
            catch (DuplicateNameException)
            {
                // Another process (a node sharing the database) created it at the same moment: that one is the device.
                return await GetByIdentAsync(ident, cancellationToken).ConfigureAwait(false)
                    ?? throw new InvalidOperationException($"The device '{ident}' was created and deleted at the same moment.");
            }
        }
    }

    public ValueTask<Device> CreateAsync(string ident, string? displayName = null, Guid? domainId = null, CancellationToken cancellationToken = default)
        => CreateAsync(ident, displayName, domainId, null, cancellationToken);

    public ValueTask<Device> CreateAsync(string ident, string? displayName, Guid? domainId, DeviceCredentialSeed? credentials, CancellationToken cancellationToken = default)
        => CreateAsync(ident, displayName, domainId, credentials, null, cancellationToken);

    public async ValueTask<Device> CreateAsync(string ident, string? displayName, Guid? domainId, DeviceCredentialSeed? credentials, string? protocol, CancellationToken cancellationToken = default)
    {
        DeviceIds.ValidateIdent(ident);
        displayName = CheckDisplayName(displayName);
        CheckProtocol(protocol);
        var domain = domainId is { } d
            ? await _domains.GetAsync(d, cancellationToken).ConfigureAwait(false) ?? throw new EntityNotFoundException("domain", d.ToString("D"))
            : await _domains.EnsureDefaultAsync(cancellationToken).ConfigureAwait(false);
        using (await _locks.AcquireAsync(ident, cancellationToken).ConfigureAwait(false))
        {
            if (await GetByIdentAsync(ident, cancellationToken).ConfigureAwait(false) is not null)
            {
                throw new DuplicateNameException(Kind, ident);
            }
            return await CreateLockedAsync(ident, displayName, domain.Id, cancellationToken, credentials, protocol).ConfigureAwait(false);
        }
    }

    private async ValueTask<Device> CreateLockedAsync(string ident, string? displayName, Guid domainId, CancellationToken cancellationToken, DeviceCredentialSeed? credentials = null, string? protocol = null)
    {
        var id = DeviceIds.FromIdent(ident);
        while (await _registry.GetStatusAsync(EntityPaths.Device(id), cancellationToken).ConfigureAwait(false) != RegistryNodeStatus.Undefined
            || await IsJournaledAsync(id, cancellationToken).ConfigureAwait(false))
        {
            // The deterministic id is taken (another ident's device, or a deleted device whose series is kept
            // or being purged): a random one.
            id = Guid.NewGuid();
        }
        var now = Now;
        var node = EntityPaths.Device(id);
        var index = EntityPaths.DeviceByIdent(ident);
        for (var attempt = 0; ; attempt++)
        {
            // One atomic, conditional write: the ident index (only if nobody changed it since it was
            // read), the device node with its values and the entry in its domain's device map.
            var current = await _registry.GetValueAsync(index, EntityPaths.IndexId, cancellationToken).ConfigureAwait(false);
            // A live device holding the ident, even under the id this call chose (another process that
            // shares the database created it meanwhile), is the device: it is not written again.
            if (current is not null && Guid.TryParse(current, out var holder)
                && (await GetAsync(holder, cancellationToken).ConfigureAwait(false))?.Ident == ident)
            {
                throw new DuplicateNameException(Kind, ident);
            }
            var batch = new RegistryBatch()
                .Expect(index, EntityPaths.IndexId, current)
                .SetValue(index, EntityPaths.IndexId, id.ToString("D"))
                .SetValue(node, "ident", ident)
                .SetValue(node, "domain", domainId.ToString("D"))
                .SetValue(node, "created_date", EntityValues.FormatTime(now))
                .SetValue(node, EntityPaths.Version, CurrentVersion.ToString(CultureInfo.InvariantCulture))
                .SetValue(DomainDevices(domainId), id.ToString("D"), "");
            if (displayName is not null)
            {
                batch.SetValue(node, "display_name", displayName);
            }
            if (protocol is not null)
            {
                batch.SetValue(node, "protocol", protocol);
            }
            if (credentials is not null)
            {
                // With the device, in the same write: a device created with credentials never exists without them.
                DeviceAuthStore.AddSeed(batch, id, credentials, now);
            }
            if (await _registry.TryWriteAsync(batch, cancellationToken).ConfigureAwait(false))
            {
                return new Device(id, ident, displayName, domainId, null, now, protocol);
            }
            if (attempt > 10)
            {
                throw new InvalidOperationException($"The index '{index}' keeps changing.");
            }
        }
    }

    private static RegistryPath DomainDevices(Guid domainId) => EntityPaths.Domain(domainId).Child("devices");

    private static string? CheckDisplayName(string? displayName)
    {
        if (displayName is not null)
        {
            EntityValues.CheckLineValue(displayName, "display_name");
        }
        return string.IsNullOrEmpty(displayName) ? null : displayName;
    }

    public async ValueTask<Device> SetDisplayNameAsync(Guid id, string? displayName, CancellationToken cancellationToken = default)
    {
        displayName = CheckDisplayName(displayName);
        var device = await RequireAsync(id, cancellationToken).ConfigureAwait(false);
        await SetOrDeleteAsync(EntityPaths.Device(id), "display_name", displayName, cancellationToken).ConfigureAwait(false);
        return device with { DisplayName = displayName };
    }

    public async ValueTask<Device> SetOwnerAsync(Guid id, string? owner, CancellationToken cancellationToken = default)
    {
        if (owner is not null)
        {
            EntityValues.CheckLineValue(owner, "owner");
        }
        owner = string.IsNullOrEmpty(owner) ? null : owner;
        var device = await RequireAsync(id, cancellationToken).ConfigureAwait(false);
        await SetOrDeleteAsync(EntityPaths.Device(id), "owner", owner, cancellationToken).ConfigureAwait(false);
        return device with { Owner = owner };
    }

    public async ValueTask SetProtocolAsync(Guid id, string protocol, CancellationToken cancellationToken = default)
    {
        CheckProtocol(protocol ?? throw new ArgumentNullException(nameof(protocol)));
        await EnsureExistsAsync(id, cancellationToken).ConfigureAwait(false);
        await _registry.SetValueAsync(EntityPaths.Device(id), "protocol", protocol, cancellationToken: cancellationToken).ConfigureAwait(false);
    }

    private static void CheckProtocol(string? protocol)
    {
        if (protocol is not (null or DeviceProtocols.M2mp or DeviceProtocols.Alip))
        {
            throw new ArgumentException($"Unknown protocol '{protocol}'.", nameof(protocol));
        }
    }

    private async ValueTask SetOrDeleteAsync(RegistryPath path, string name, string? value, CancellationToken cancellationToken)
    {
        if (value is null)
        {
            await _registry.DeleteValueAsync(path, name, cancellationToken).ConfigureAwait(false);
        }
        else
        {
            await _registry.SetValueAsync(path, name, value, cancellationToken: cancellationToken).ConfigureAwait(false);
        }
    }

    public async ValueTask<Device> SetDomainAsync(Guid id, Guid domainId, CancellationToken cancellationToken = default)
    {
        var device = await RequireAsync(id, cancellationToken).ConfigureAwait(false);
        _ = await _domains.GetAsync(domainId, cancellationToken).ConfigureAwait(false) ?? throw new EntityNotFoundException("domain", domainId.ToString("D"));
        if (device.DomainId == domainId)
        {
            return device;
        }
        var batch = new RegistryBatch()
            .SetValue(EntityPaths.Device(id), "domain", domainId.ToString("D"))
            .SetValue(DomainDevices(domainId), id.ToString("D"), "");
        if (device.DomainId != Guid.Empty && await _registry.GetStatusAsync(DomainDevices(device.DomainId), cancellationToken).ConfigureAwait(false) == RegistryNodeStatus.Created)
        {
            batch.DeleteValue(DomainDevices(device.DomainId), id.ToString("D"));
        }
        await _registry.WriteAsync(batch, cancellationToken).ConfigureAwait(false);
        return device with { DomainId = domainId };
    }

    public async ValueTask<bool> DeleteAsync(Guid id, CancellationToken cancellationToken = default)
    {
        if (await GetAsync(id, cancellationToken).ConfigureAwait(false) is not { } device)
        {
            return false;
        }
        using (await _locks.AcquireAsync(device.Ident, cancellationToken).ConfigureAwait(false))
        {
            // Node first: a crash after it leaves a dangling index that the next creation takes over.
            if (!await _registry.DeleteAsync(EntityPaths.Device(id), cancellationToken: cancellationToken).ConfigureAwait(false))
            {
                return false;
            }
            await UniqueIndex.ReleaseAsync(_registry, EntityPaths.DeviceByIdent(device.Ident), id, cancellationToken).ConfigureAwait(false);
            if (device.DomainId != Guid.Empty)
            {
                await _registry.DeleteValueAsync(DomainDevices(device.DomainId), id.ToString("D"), cancellationToken).ConfigureAwait(false);
            }
            return true;
        }
    }

    public async ValueTask<DevicePage> ListAsync(DeviceQuery query, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(query);
        ArgumentOutOfRangeException.ThrowIfLessThan(query.Limit, 1, nameof(query.Limit));
        ArgumentOutOfRangeException.ThrowIfGreaterThan(query.Limit, DeviceQuery.MaxLimit, nameof(query.Limit));
        string? after = null;
        if (query.Cursor is not null)
        {
            after = Guid.TryParseExact(query.Cursor, "D", out var cursor) ? cursor.ToString("D") : throw new ArgumentException("Invalid cursor.", nameof(query));
        }
        IEnumerable<Guid> candidates = query.DomainId is { } domainId
            ? await _domains.GetDeviceIdsAsync(domainId, cancellationToken).ConfigureAwait(false)
            : EntityPaths.Ids(await _registry.GetChildrenAsync(EntityPaths.Devices, cancellationToken: cancellationToken).ConfigureAwait(false));

        var items = new List<Device>();
        foreach (var id in candidates)
        {
            var key = id.ToString("D");
            if (after is not null && string.CompareOrdinal(key, after) <= 0)
            {
                continue;
            }
            if (await GetAsync(id, cancellationToken).ConfigureAwait(false) is not { } device)
            {
                continue;
            }
            if (query.DomainId is { } d && device.DomainId != d)
            {
                continue;
            }
            if (!string.IsNullOrEmpty(query.Search)
                && !device.Ident.Contains(query.Search, StringComparison.OrdinalIgnoreCase)
                && !(device.DisplayName?.Contains(query.Search, StringComparison.OrdinalIgnoreCase) ?? false))
            {
                continue;
            }
            if (items.Count == query.Limit)
            {
                return new DevicePage(items, items[^1].Id.ToString("D"));
            }
            items.Add(device);
        }
        return new DevicePage(items, null);
    }

    // ------------------------------------------------------------------ settings

    public async ValueTask SetSettingAsync(Guid deviceId, string name, string value, CancellationToken cancellationToken = default)
    {
        EntityValues.CheckKey(name, "setting");
        EntityValues.CheckLineValue(value, "setting");
        await EnsureExistsAsync(deviceId, cancellationToken).ConfigureAwait(false);
        await _registry.WriteAsync(new RegistryBatch()
            .SetValue(Node(deviceId, "settings"), name, value)
            .SetValue(Node(deviceId, "settings-to-send"), name, value)
            .DeleteValue(Node(deviceId, "settings-ack-time"), name), cancellationToken).ConfigureAwait(false);
    }

    public async ValueTask<IReadOnlyDictionary<string, string>> GetSettingsToSendAsync(Guid deviceId, CancellationToken cancellationToken = default)
    {
        await EnsureExistsAsync(deviceId, cancellationToken).ConfigureAwait(false);
        return await _registry.GetValuesAsync(Node(deviceId, "settings-to-send"), cancellationToken).ConfigureAwait(false);
    }

    public async ValueTask<IReadOnlyList<DeviceSetting>> GetSettingsAsync(Guid deviceId, CancellationToken cancellationToken = default)
    {
        await EnsureExistsAsync(deviceId, cancellationToken).ConfigureAwait(false);
        var settings = await _registry.GetValuesAsync(Node(deviceId, "settings"), cancellationToken).ConfigureAwait(false);
        var toSend = await _registry.GetValuesAsync(Node(deviceId, "settings-to-send"), cancellationToken).ConfigureAwait(false);
        var acks = await _registry.GetValuesAsync(Node(deviceId, "settings-ack-time"), cancellationToken).ConfigureAwait(false);
        return [.. settings.OrderBy(s => s.Key, StringComparer.Ordinal).Select(s => new DeviceSetting(
            s.Key,
            toSend.GetValueOrDefault(s.Key) ?? s.Value,
            toSend.ContainsKey(s.Key),
            EntityValues.Time(acks, s.Key)))];
    }

    public async ValueTask<SettingAckResult> AckSettingAsync(Guid deviceId, string name, string value, DateTimeOffset time, CancellationToken cancellationToken = default)
    {
        EntityValues.CheckKey(name, "setting");
        EntityValues.CheckLineValue(value, "setting");
        await EnsureExistsAsync(deviceId, cancellationToken).ConfigureAwait(false);
        var toSend = Node(deviceId, "settings-to-send");
        var pending = await _registry.GetValueAsync(toSend, name, cancellationToken).ConfigureAwait(false);
        if (pending is not null)
        {
            // Compare-and-delete: a value the platform sets meanwhile stays pending.
            if (pending != value || !await _registry.CompareAndSetValueAsync(toSend, name, value, null, cancellationToken).ConfigureAwait(false))
            {
                return SettingAckResult.IgnoredPendingDiffers;
            }
            await _registry.SetValueAsync(Node(deviceId, "settings-ack-time"), name, EntityValues.FormatTime(time), cancellationToken: cancellationToken).ConfigureAwait(false);
            return SettingAckResult.Acknowledged;
        }
        await _registry.WriteAsync(new RegistryBatch()
            .SetValue(Node(deviceId, "settings"), name, value)
            .SetValue(Node(deviceId, "settings-ack-time"), name, EntityValues.FormatTime(time)), cancellationToken).ConfigureAwait(false);
        return SettingAckResult.Reported;
    }

    public async ValueTask<bool> DeleteSettingAsync(Guid deviceId, string name, CancellationToken cancellationToken = default)
    {
        RegistryLimits.CheckName(name);
        await EnsureExistsAsync(deviceId, cancellationToken).ConfigureAwait(false);
        var existed = await _registry.GetValueAsync(Node(deviceId, "settings"), name, cancellationToken).ConfigureAwait(false) is not null
            || await _registry.GetValueAsync(Node(deviceId, "settings-to-send"), name, cancellationToken).ConfigureAwait(false) is not null;
        await _registry.WriteAsync(new RegistryBatch()
            .DeleteValue(Node(deviceId, "settings"), name)
            .DeleteValue(Node(deviceId, "settings-to-send"), name)
            .DeleteValue(Node(deviceId, "settings-ack-time"), name), cancellationToken).ConfigureAwait(false);
        return existed;
    }

    public async ValueTask<bool> HasAnySettingsAsync(Guid deviceId, CancellationToken cancellationToken = default)
    {
        await EnsureExistsAsync(deviceId, cancellationToken).ConfigureAwait(false);
        return (await _registry.GetValuesAsync(Node(deviceId, "settings"), cancellationToken).ConfigureAwait(false)).Count > 0;
    }

    // ------------------------------------------------------------------ commands
    // commands/<id>=text lists undelivered commands (spec), commands-response/<id>=response the answers,
    // commands-log/<id>/ every command's state and times.

    private static RegistryPath CommandLog(Guid deviceId, string commandId) => Node(deviceId, "commands-log").Child(commandId);

    public async ValueTask<string> AddCommandAsync(Guid deviceId, string text, TimeSpan? timeToLive = null, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(text);
        RegistryLimits.Check("text", text);
        if (timeToLive is { } ttl && ttl <= TimeSpan.Zero)
        {
            throw new ArgumentOutOfRangeException(nameof(timeToLive), "A time-to-live must be positive.");
        }
        var now = Now;
        var id = CommandIds.Next(now);
        var log = CommandLog(deviceId, id);
        // The device's existence is the write's condition, not a read before it.
        var batch = new RegistryBatch()
            .ExpectCreated(EntityPaths.Device(deviceId))
            .SetValue(log, "text", text)
            .SetValue(log, "state", nameof(CommandState.Pending))
            .SetValue(log, "created_date", EntityValues.FormatTime(now))
            .SetValue(Node(deviceId, "commands"), id, text);
        if (timeToLive is { } t)
        {
            batch.SetValue(log, "expires_date", EntityValues.FormatTime(now + t));
        }
        if (!await _registry.TryWriteAsync(batch, cancellationToken).ConfigureAwait(false))
        {
            throw new EntityNotFoundException(Kind, deviceId.ToString("D"));
        }
        return id;
    }

    private async ValueTask<DeviceCommand?> ReadCommandAsync(Guid deviceId, string commandId, CancellationToken cancellationToken)
    {
        if (!CommandIds.IsValid(commandId))
        {
            return null;
        }
        var values = await _registry.GetValuesAsync(CommandLog(deviceId, commandId), cancellationToken).ConfigureAwait(false);
        if (!values.TryGetValue("text", out var text) || !Enum.TryParse<CommandState>(values.GetValueOrDefault("state"), out var state))
        {
            return null;
        }
        var command = new DeviceCommand(
            commandId,
            text,
            state,
            EntityValues.Time(values, "created_date") ?? DateTimeOffset.UnixEpoch,
            EntityValues.Time(values, "expires_date"),
            EntityValues.Time(values, "sent_date"),
            EntityValues.Time(values, "ack_date"),
            state == CommandState.Acknowledged
                ? await _registry.GetValueAsync(Node(deviceId, "commands-response"), commandId, cancellationToken).ConfigureAwait(false)
                : null,
            EntityValues.Time(values, "failed_date"),
            EntityValues.Text(values, "failure"));
        if (state == CommandState.Pending && command.ExpiresAt is { } expires && expires <= Now)
        {
            if (!await ExpireAsync(deviceId, commandId, cancellationToken).ConfigureAwait(false))
            {
                // It left the pending state meanwhile: as it is now.
                return await ReadCommandAsync(deviceId, commandId, cancellationToken).ConfigureAwait(false);
            }
            command = command with { State = CommandState.Expired };
        }
        return command;
    }

    /// <summary>Marks a pending command expired, unless it left the pending state meanwhile (acknowledged, cancelled…).</summary>
    private ValueTask<bool> ExpireAsync(Guid deviceId, string commandId, CancellationToken cancellationToken)
        => _registry.TryWriteAsync(new RegistryBatch()
            .Expect(CommandLog(deviceId, commandId), "state", nameof(CommandState.Pending))
            .SetValue(CommandLog(deviceId, commandId), "state", nameof(CommandState.Expired))
            .DeleteValue(Node(deviceId, "commands"), commandId), cancellationToken);

    public async ValueTask<IReadOnlyList<DeviceCommand>> GetPendingCommandsAsync(Guid deviceId, CancellationToken cancellationToken = default)
    {
        await EnsureExistsAsync(deviceId, cancellationToken).ConfigureAwait(false);
        var queued = await _registry.GetValuesAsync(Node(deviceId, "commands"), cancellationToken).ConfigureAwait(false);
        var result = new List<DeviceCommand>();
        foreach (var id in queued.Keys.Order(StringComparer.Ordinal))
        {
            var command = await ReadCommandAsync(deviceId, id, cancellationToken).ConfigureAwait(false);
            if (command is { State: CommandState.Pending or CommandState.Sent })
            {
                result.Add(command);
            }
            else if (command is null or { State: CommandState.Acknowledged or CommandState.Failed })
            {
                // A stale entry (no log, or acknowledged by a write that crashed midway): drop it.
                await _registry.DeleteValueAsync(Node(deviceId, "commands"), id, cancellationToken).ConfigureAwait(false);
            }
        }
        return result;
    }

    public ValueTask<bool> MarkCommandSentAsync(Guid deviceId, string commandId, CancellationToken cancellationToken = default)
        => ChangeCommandAsync(deviceId, commandId, null, MarkSent, cancellationToken);

    public ValueTask<bool> MarkCommandSentAsync(Guid deviceId, DeviceCommand command, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(command);
        // The state the caller read is the write's condition, unless the command may have expired since:
        // reading it again then expires it.
        var seen = command.ExpiresAt is { } expires && expires <= Now ? (CommandState?)null : command.State;
        return ChangeCommandAsync(deviceId, command.Id, seen, MarkSent, cancellationToken);
    }

    private RegistryBatch? MarkSent(Guid deviceId, DeviceCommand command)
    {
        if (command.State is not (CommandState.Pending or CommandState.Sent))
        {
            return null;
        }
        var log = CommandLog(deviceId, command.Id);
        return new RegistryBatch()
            .SetValue(log, "state", nameof(CommandState.Sent))
            .SetValue(log, "sent_date", EntityValues.FormatTime(Now));
    }

    /// <remarks>
    /// Tried first as the acknowledgement of a sent command (the usual case), a write conditional on that
    /// state, without reading the command: one registry write.
    /// </remarks>
    public ValueTask<bool> AckCommandAsync(Guid deviceId, string commandId, string? response = null, CancellationToken cancellationToken = default)
    {
        // A device may answer with a long response: it is kept up to the registry's value size.
        var kept = EntityValues.TruncateUtf8(response ?? "", RegistryLimits.MaxValueBytes);
        return ChangeCommandAsync(deviceId, commandId, CommandState.Sent, (device, command) =>
        {
            if (command.State is not (CommandState.Pending or CommandState.Sent))
            {
                return null;
            }
            var log = CommandLog(device, command.Id);
            return new RegistryBatch()
                .SetValue(log, "state", nameof(CommandState.Acknowledged))
                .SetValue(log, "ack_date", EntityValues.FormatTime(Now))
                .SetValue(Node(device, "commands-response"), command.Id, kept)
                .DeleteValue(Node(device, "commands"), command.Id);
        }, cancellationToken);
    }

    public ValueTask<bool> FailCommandAsync(Guid deviceId, string commandId, string reason, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(reason);
        return ChangeCommandAsync(deviceId, commandId, null, (device, command) =>
        {
            if (command.State is not (CommandState.Pending or CommandState.Sent))
            {
                return null;
            }
            var log = CommandLog(device, command.Id);
            return new RegistryBatch()
                .SetValue(log, "state", nameof(CommandState.Failed))
                .SetValue(log, "failed_date", EntityValues.FormatTime(Now))
                .SetValue(log, "failure", EntityValues.TruncateUtf8(reason, RegistryLimits.MaxValueBytes))
                .DeleteValue(Node(device, "commands"), command.Id);
        }, cancellationToken);
    }

    /// <summary>
    /// Moves a command to its next state with one registry write conditional on the state it leaves, so that
    /// of concurrent changes (a device's acknowledgement and its node marking the command sent, two
    /// acknowledgements, two API nodes) each applies to the state it was decided on, or not at all.
    /// <paramref name="change"/> gives the write for the command as read (<c>null</c>: not allowed from its
    /// state, the answer is <c>false</c>). With <paramref name="assumed"/>, the write for a command in that
    /// state is tried first without reading anything (the caller has just read it, or it is the usual
    /// state); when the state differs, the command is read and decided on as it is.
    /// </summary>
    private async ValueTask<bool> ChangeCommandAsync(Guid deviceId, string commandId, CommandState? assumed,
        Func<Guid, DeviceCommand, RegistryBatch?> change, CancellationToken cancellationToken)
    {
        var log = CommandLog(deviceId, commandId);
        if (assumed is { } state && CommandIds.IsValid(commandId)
            && change(deviceId, new DeviceCommand(commandId, "", state, DateTimeOffset.UnixEpoch, null, null, null, null)) is { } write)
        {
            try
            {
                // The condition holds only while the command's log exists in that state: a command of an
                // unknown or never-created device never matches it.
                if (await _registry.TryWriteAsync(write.Expect(log, "state", state.ToString()), cancellationToken).ConfigureAwait(false))
                {
                    return true;
                }
            }
            catch (RegistryNodeNotFoundException)
            {
                // The device is soft-deleted: the checks below say so as for any other call.
            }
        }
        await EnsureExistsAsync(deviceId, cancellationToken).ConfigureAwait(false);
        for (var attempt = 0; ; attempt++)
        {
            if (await ReadCommandAsync(deviceId, commandId, cancellationToken).ConfigureAwait(false) is not { } command
                || change(deviceId, command) is not { } batch)
            {
                return false;
            }
            if (await _registry.TryWriteAsync(batch.Expect(log, "state", command.State.ToString()), cancellationToken).ConfigureAwait(false))
            {
                return true;
            }
            // Its state changed between the read and the write: decide again on the new one.
            if (attempt > 10)
            {
                throw new InvalidOperationException($"The state of command '{commandId}' keeps changing.");
            }
        }
    }

    public async ValueTask<bool> CancelCommandAsync(Guid deviceId, string commandId, CancellationToken cancellationToken = default)
    {
        await EnsureExistsAsync(deviceId, cancellationToken).ConfigureAwait(false);
        if (await ReadCommandAsync(deviceId, commandId, cancellationToken).ConfigureAwait(false) is not { State: CommandState.Pending })
        {
            return false;
        }
        await _registry.DeleteValueAsync(Node(deviceId, "commands"), commandId, cancellationToken).ConfigureAwait(false);
        await _registry.DeleteAsync(CommandLog(deviceId, commandId), hard: true, cancellationToken).ConfigureAwait(false);
        return true;
    }

    public async ValueTask<DeviceCommand?> GetCommandAsync(Guid deviceId, string commandId, CancellationToken cancellationToken = default)
    {
        await EnsureExistsAsync(deviceId, cancellationToken).ConfigureAwait(false);
        return await ReadCommandAsync(deviceId, commandId, cancellationToken).ConfigureAwait(false);
    }

    public async ValueTask<IReadOnlyList<DeviceCommand>> ListCommandsAsync(Guid deviceId, int limit = 100, CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(limit, 1);
        await EnsureExistsAsync(deviceId, cancellationToken).ConfigureAwait(false);
        var ids = await _registry.GetChildrenAsync(Node(deviceId, "commands-log"), cancellationToken: cancellationToken).ConfigureAwait(false);
        var result = new List<DeviceCommand>();
        for (var i = ids.Count - 1; i >= 0 && result.Count < limit; i--)
        {
            if (await ReadCommandAsync(deviceId, ids[i], cancellationToken).ConfigureAwait(false) is { } command)
            {
                result.Add(command);
            }
        }
        return result;
    }

    // ------------------------------------------------------------------ status, listed sensors, server settings

    public async ValueTask SetStatusAsync(Guid deviceId, string name, string value, CancellationToken cancellationToken = default)
    {
        RegistryLimits.Check(name, value);
        ArgumentNullException.ThrowIfNull(value);
        await EnsureExistsAsync(deviceId, cancellationToken).ConfigureAwait(false);
        await _registry.SetValueAsync(Node(deviceId, "status"), name, value, cancellationToken: cancellationToken).ConfigureAwait(false);
    }

    public async ValueTask<IReadOnlyDictionary<string, string>> GetStatusAsync(Guid deviceId, CancellationToken cancellationToken = default)
    {
        await EnsureExistsAsync(deviceId, cancellationToken).ConfigureAwait(false);
        return await _registry.GetValuesAsync(Node(deviceId, "status"), cancellationToken).ConfigureAwait(false);
    }

    public async ValueTask<bool> HasStatusAsync(Guid deviceId, string name, CancellationToken cancellationToken = default)
    {
        RegistryLimits.CheckName(name);
        await EnsureExistsAsync(deviceId, cancellationToken).ConfigureAwait(false);
        return await _registry.GetValueAsync(Node(deviceId, "status"), name, cancellationToken).ConfigureAwait(false) is not null;
    }

    public async ValueTask MarkListedSensorAsync(Guid deviceId, string name, DateTimeOffset time, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        await EnsureExistsAsync(deviceId, cancellationToken).ConfigureAwait(false);
        var node = Node(deviceId, "listed-sensors").Child(RegistryPath.EscapeSegment(name));
        var stamp = EntityValues.FormatTime(time);
        await _registry.CompareAndSetValueAsync(node, "first_seen", null, stamp, cancellationToken).ConfigureAwait(false);
        await _registry.SetValueAsync(node, "last_seen", stamp, cancellationToken: cancellationToken).ConfigureAwait(false);
    }

    public async ValueTask<IReadOnlyList<ListedSensor>> GetListedSensorsAsync(Guid deviceId, CancellationToken cancellationToken = default)
    {
        await EnsureExistsAsync(deviceId, cancellationToken).ConfigureAwait(false);
        var root = Node(deviceId, "listed-sensors");
        var result = new List<ListedSensor>();
        foreach (var child in await _registry.GetChildrenAsync(root, true, cancellationToken).ConfigureAwait(false))
        {
            var values = await _registry.GetValuesAsync(root.Child(child), cancellationToken).ConfigureAwait(false);
            if (EntityValues.Time(values, "first_seen") is { } first)
            {
                result.Add(new ListedSensor(RegistryPath.UnescapeSegment(child), first, EntityValues.Time(values, "last_seen") ?? first));
            }
        }
        result.Sort((a, b) => string.CompareOrdinal(a.Name, b.Name));
        return result;
    }

    private static string ServerSettings(bool isPublic) => isPublic ? "server-settings-public" : "server-settings";

    public async ValueTask SetServerSettingAsync(Guid deviceId, string name, string value, bool isPublic = false, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(value);
        RegistryLimits.Check(name, value);
        await EnsureExistsAsync(deviceId, cancellationToken).ConfigureAwait(false);
        await _registry.SetValueAsync(Node(deviceId, ServerSettings(isPublic)), name, value, cancellationToken: cancellationToken).ConfigureAwait(false);
    }

    public async ValueTask<IReadOnlyDictionary<string, string>> GetServerSettingsAsync(Guid deviceId, bool isPublic = false, CancellationToken cancellationToken = default)
    {
        await EnsureExistsAsync(deviceId, cancellationToken).ConfigureAwait(false);
        return await _registry.GetValuesAsync(Node(deviceId, ServerSettings(isPublic)), cancellationToken).ConfigureAwait(false);
    }

    public async ValueTask<bool> DeleteServerSettingAsync(Guid deviceId, string name, bool isPublic = false, CancellationToken cancellationToken = default)
    {
        await EnsureExistsAsync(deviceId, cancellationToken).ConfigureAwait(false);
        return await _registry.DeleteValueAsync(Node(deviceId, ServerSettings(isPublic)), name, cancellationToken).ConfigureAwait(false);
    }

    // ------------------------------------------------------------------ channel translation

    private async ValueTask<RegistryPath> TranslationNodeAsync(Guid? deviceId, CancellationToken cancellationToken)
    {
        if (deviceId is not { } id)
        {
            return EntityPaths.DefaultDevice.Child("channel-translation");
        }
        await EnsureExistsAsync(id, cancellationToken).ConfigureAwait(false);
        return Node(id, "channel-translation");
    }

    private static string RuleName(int priority, string pattern) => $"{priority.ToString("D4", CultureInfo.InvariantCulture)}_{pattern}";

    public async ValueTask SetChannelTranslationAsync(Guid? deviceId, int priority, string pattern, string topic, CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(priority);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(priority, 9999);
        ArgumentException.ThrowIfNullOrEmpty(pattern);
        ArgumentException.ThrowIfNullOrEmpty(topic);
        if (topic.Length > 256 || topic.Any(c => char.IsWhiteSpace(c) || char.IsControl(c)))
        {
            throw new ArgumentException("A topic has 1 to 256 characters without whitespace or control characters.", nameof(topic));
        }
        if (Compile(pattern) is null)
        {
            throw new ArgumentException("The pattern is not a valid regular expression.", nameof(pattern));
        }
        var name = RuleName(priority, pattern);
        RegistryLimits.CheckName(name);
        var node = await TranslationNodeAsync(deviceId, cancellationToken).ConfigureAwait(false);
        await _registry.SetValueAsync(node, name, topic, cancellationToken: cancellationToken).ConfigureAwait(false);
    }

    public async ValueTask<IReadOnlyList<ChannelTranslationRule>> GetChannelTranslationsAsync(Guid? deviceId, CancellationToken cancellationToken = default)
    {
        var node = await TranslationNodeAsync(deviceId, cancellationToken).ConfigureAwait(false);
        return ParseRules(await _registry.GetValuesAsync(node, cancellationToken).ConfigureAwait(false));
    }

    private static List<ChannelTranslationRule> ParseRules(IReadOnlyDictionary<string, string> values)
    {
        var rules = new List<ChannelTranslationRule>();
        foreach (var (name, topic) in values.OrderBy(v => v.Key, StringComparer.Ordinal))
        {
            // NNNN_<regex>; entries of another shape are ignored.
            if (name.Length > 5 && name[4] == '_' && int.TryParse(name.AsSpan(0, 4), NumberStyles.None, CultureInfo.InvariantCulture, out var priority))
            {
                rules.Add(new ChannelTranslationRule(priority, name[5..], topic));
            }
        }
        return rules;
    }

    public async ValueTask<bool> DeleteChannelTranslationAsync(Guid? deviceId, int priority, string pattern, CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(priority);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(priority, 9999);
        ArgumentException.ThrowIfNullOrEmpty(pattern);
        var node = await TranslationNodeAsync(deviceId, cancellationToken).ConfigureAwait(false);
        return await _registry.DeleteValueAsync(node, RuleName(priority, pattern), cancellationToken).ConfigureAwait(false);
    }

    public async ValueTask<string?> ResolveChannelTranslationAsync(Guid deviceId, string channel, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(channel);
        await EnsureExistsAsync(deviceId, cancellationToken).ConfigureAwait(false);
        foreach (var node in new[] { Node(deviceId, "channel-translation"), EntityPaths.DefaultDevice.Child("channel-translation") })
        {
            foreach (var rule in ParseRules(await _registry.GetValuesAsync(node, cancellationToken).ConfigureAwait(false)))
            {
                if (Matches(rule.Pattern, channel))
                {
                    return rule.Topic;
                }
            }
        }
        return null;
    }

    private bool Matches(string pattern, string channel)
    {
        if (Compile(pattern) is not { } regex)
        {
            return false;
        }
        try
        {
            return regex.IsMatch(channel);
        }
        catch (RegexMatchTimeoutException)
        {
            // A pathological rule must not stall a device session: it simply does not match.
            return false;
        }
    }

    /// <summary>The compiled, fully anchored rule, or <c>null</c> for an invalid pattern. Cached.</summary>
    private Regex? Compile(string pattern)
    {
        if (_regexes.TryGetValue(pattern, out var cached))
        {
            return cached;
        }
        Regex? regex;
        try
        {
            regex = new Regex($"^(?:{pattern})$", RegexOptions.CultureInvariant | RegexOptions.Compiled, RegexTimeout);
        }
        catch (ArgumentException)
        {
            regex = null;
        }
        if (_regexes.Count >= MaxRegexCache)
        {
            _regexes.Clear();
        }
        _regexes[pattern] = regex;
        return regex;
    }
}
