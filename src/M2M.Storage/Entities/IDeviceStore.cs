namespace M2M.Storage.Entities;

/// <summary>
/// Devices (<c>/device/&lt;uuid&gt;/</c>) and their settings, commands, status, listed sensors,
/// server settings and channel translation. Every method taking a device id throws
/// <see cref="EntityNotFoundException"/> for an unknown or deleted device.
/// </summary>
public interface IDeviceStore
{
    /// <summary>A device by id, or <c>null</c> (unknown or deleted). Runs upgrade-on-read.</summary>
    ValueTask<Device?> GetAsync(Guid id, CancellationToken cancellationToken = default);

    /// <summary>A device by ident, or <c>null</c>.</summary>
    /// <exception cref="InvalidIdentException">Invalid ident.</exception>
    ValueTask<Device?> GetByIdentAsync(string ident, CancellationToken cancellationToken = default);

    /// <summary>
    /// The device of <paramref name="ident"/>; when there is none and <paramref name="autoRegister"/>
    /// is set, creates it in the <c>default</c> domain with the deterministic id
    /// <see cref="DeviceIds.FromIdent"/> (a random id when that one is taken). Concurrent calls for one
    /// ident yield one device. <c>null</c> when absent and not auto-registered.
    /// </summary>
    /// <exception cref="InvalidIdentException">Invalid ident.</exception>
    ValueTask<Device?> GetOrCreateByIdentAsync(string ident, bool autoRegister, CancellationToken cancellationToken = default);

    /// <summary>Creates a device (in the <c>default</c> domain when <paramref name="domainId"/> is null).</summary>
    /// <exception cref="InvalidIdentException">Invalid ident.</exception>
    /// <exception cref="DuplicateNameException">The ident is taken.</exception>
    /// <exception cref="EntityNotFoundException">Unknown domain.</exception>
    ValueTask<Device> CreateAsync(string ident, string? displayName = null, Guid? domainId = null, CancellationToken cancellationToken = default);

    /// <summary>
    /// Creates a device with its <paramref name="credentials"/> (secret hash, certificate thumbprints)
    /// in one atomic write, so that it never exists without them.
    /// </summary>
    /// <exception cref="InvalidIdentException">Invalid ident.</exception>
    /// <exception cref="DuplicateNameException">The ident is taken.</exception>
    /// <exception cref="EntityNotFoundException">Unknown domain.</exception>
    ValueTask<Device> CreateAsync(string ident, string? displayName, Guid? domainId, DeviceCredentialSeed? credentials, CancellationToken cancellationToken = default);

    /// <summary>
    /// Creates a device with its <paramref name="credentials"/> and the <paramref name="protocol"/> it
    /// identified with (<see cref="DeviceProtocols"/>, or <c>null</c>) in one atomic write: what a device
    /// registered at its first identification needs, in one synced write instead of two.
    /// </summary>
    /// <exception cref="InvalidIdentException">Invalid ident.</exception>
    /// <exception cref="DuplicateNameException">The ident is taken.</exception>
    /// <exception cref="EntityNotFoundException">Unknown domain.</exception>
    /// <exception cref="ArgumentException">Unknown protocol.</exception>
    ValueTask<Device> CreateAsync(string ident, string? displayName, Guid? domainId, DeviceCredentialSeed? credentials, string? protocol, CancellationToken cancellationToken = default);

    /// <summary>Sets (or clears, with <c>null</c>) the display name.</summary>
    ValueTask<Device> SetDisplayNameAsync(Guid id, string? displayName, CancellationToken cancellationToken = default);

    /// <summary>Moves the device to another domain (updating both domains' device maps).</summary>
    ValueTask<Device> SetDomainAsync(Guid id, Guid domainId, CancellationToken cancellationToken = default);

    /// <summary>Sets (or clears) the owner (a user id or free text).</summary>
    ValueTask<Device> SetOwnerAsync(Guid id, string? owner, CancellationToken cancellationToken = default);

    /// <summary>Records the protocol the device identified with (<see cref="DeviceProtocols"/>).</summary>
    ValueTask SetProtocolAsync(Guid id, string protocol, CancellationToken cancellationToken = default);

    /// <summary>Soft-deletes the device (<c>.deleted_date</c>), removes its ident index and domain entry. <c>false</c> when unknown.</summary>
    ValueTask<bool> DeleteAsync(Guid id, CancellationToken cancellationToken = default);

    /// <summary>
    /// Deletes the device for real. Step 1 is one atomic, conditional registry write: the device leaves its
    /// ident index (<c>/device/by-ident/&lt;ident&gt;/</c>) and its domain's device map, and its
    /// <see cref="DeviceDeletion"/> journal entry is recorded. Step 2 removes its registry subtree and its
    /// empty index node, and marks the entry <see cref="DeviceDeletionState.Data"/> (when
    /// <paramref name="purgeData"/>: the time series is left to the background purge) or
    /// <see cref="DeviceDeletionState.Done"/>. A crash between the steps is finished by calling this again
    /// (the cleanup job does, from the journal). On a device already deleted this way it returns its entry,
    /// finishing step 2 if needed, and with <paramref name="purgeData"/> turns a deletion that kept the data
    /// into one that purges it. <c>null</c> when the id is unknown.
    /// </summary>
    ValueTask<DeviceDeletion?> PurgeAsync(Guid id, bool purgeData, CancellationToken cancellationToken = default);

    /// <summary>A page of devices sorted by id; filter by ident/display-name substring (case-insensitive) and domain.</summary>
    ValueTask<DevicePage> ListAsync(DeviceQuery query, CancellationToken cancellationToken = default);

    // ---- settings ----

    /// <summary>The platform wants <paramref name="name"/>=<paramref name="value"/>: stored in <c>settings</c> and <c>settings-to-send</c>.</summary>
    ValueTask SetSettingAsync(Guid deviceId, string name, string value, CancellationToken cancellationToken = default);

    /// <summary>Settings changed by the platform and not yet acknowledged by the device (name → value).</summary>
    ValueTask<IReadOnlyDictionary<string, string>> GetSettingsToSendAsync(Guid deviceId, CancellationToken cancellationToken = default);

    /// <summary>Every setting with its value, pending flag and ack time, sorted by name.</summary>
    ValueTask<IReadOnlyList<DeviceSetting>> GetSettingsAsync(Guid deviceId, CancellationToken cancellationToken = default);

    /// <summary>
    /// The device reports <paramref name="name"/>=<paramref name="value"/> (an ack, or a value of its own).
    /// Pending and equal to the wanted value → acknowledged (leaves <c>settings-to-send</c>, ack time recorded).
    /// Not pending → the device's value becomes the current setting (ack time recorded).
    /// Pending with another value → ignored: the platform's value stays to be sent.
    /// </summary>
    ValueTask<SettingAckResult> AckSettingAsync(Guid deviceId, string name, string value, DateTimeOffset time, CancellationToken cancellationToken = default);

    /// <summary>Deletes a setting everywhere (also when the device says the name is unknown). <c>false</c> when absent.</summary>
    ValueTask<bool> DeleteSettingAsync(Guid deviceId, string name, CancellationToken cancellationToken = default);

    /// <summary><c>true</c> when the device has at least one setting.</summary>
    ValueTask<bool> HasAnySettingsAsync(Guid deviceId, CancellationToken cancellationToken = default);

    // ---- commands ----

    /// <summary>Queues a command; returns its id (time-ordered: ids sort by creation). Expires unsent after <paramref name="timeToLive"/>.</summary>
    ValueTask<string> AddCommandAsync(Guid deviceId, string text, TimeSpan? timeToLive = null, CancellationToken cancellationToken = default);

    /// <summary>Commands still to deliver (pending or sent, not acknowledged), oldest first; expired ones are marked expired and left out.</summary>
    ValueTask<IReadOnlyList<DeviceCommand>> GetPendingCommandsAsync(Guid deviceId, CancellationToken cancellationToken = default);

    /// <summary>Records that a command was pushed to the device. <c>false</c> when not pending (or already sent).</summary>
    ValueTask<bool> MarkCommandSentAsync(Guid deviceId, string commandId, CancellationToken cancellationToken = default);

    /// <summary>
    /// <see cref="MarkCommandSentAsync(Guid, string, CancellationToken)"/> for a command the caller has just
    /// read (<see cref="GetPendingCommandsAsync"/>): one write, conditional on the command still being in the
    /// state read, instead of reading it again. Same answers.
    /// </summary>
    ValueTask<bool> MarkCommandSentAsync(Guid deviceId, DeviceCommand command, CancellationToken cancellationToken = default);

    /// <summary>The device acknowledged the command, with optional response text. <c>false</c> when unknown or already done.</summary>
    ValueTask<bool> AckCommandAsync(Guid deviceId, string commandId, string? response = null, CancellationToken cancellationToken = default);

    /// <summary>
    /// Marks a command that cannot be delivered <see cref="CommandState.Failed"/> with <paramref name="reason"/>;
    /// it leaves the pending commands. <c>false</c> when it is not pending or sent.
    /// </summary>
    ValueTask<bool> FailCommandAsync(Guid deviceId, string commandId, string reason, CancellationToken cancellationToken = default);

    /// <summary>Removes a command that was not delivered yet (pending only). <c>false</c> otherwise.</summary>
    ValueTask<bool> CancelCommandAsync(Guid deviceId, string commandId, CancellationToken cancellationToken = default);

    /// <summary>One command, or <c>null</c>.</summary>
    ValueTask<DeviceCommand?> GetCommandAsync(Guid deviceId, string commandId, CancellationToken cancellationToken = default);

    /// <summary>The device's commands in every state, newest first, at most <paramref name="limit"/>.</summary>
    ValueTask<IReadOnlyList<DeviceCommand>> ListCommandsAsync(Guid deviceId, int limit = 100, CancellationToken cancellationToken = default);

    // ---- status ----

    /// <summary>Sets a status value reported by the device (e.g. <c>cap</c>).</summary>
    ValueTask SetStatusAsync(Guid deviceId, string name, string value, CancellationToken cancellationToken = default);

    /// <summary>Every status value.</summary>
    ValueTask<IReadOnlyDictionary<string, string>> GetStatusAsync(Guid deviceId, CancellationToken cancellationToken = default);

    /// <summary><c>true</c> when the status <paramref name="name"/> is known.</summary>
    ValueTask<bool> HasStatusAsync(Guid deviceId, string name, CancellationToken cancellationToken = default);

    // ---- listed sensors ----

    /// <summary>Marks a sensor announced by the device: first seen (kept) and last seen (updated).</summary>
    ValueTask MarkListedSensorAsync(Guid deviceId, string name, DateTimeOffset time, CancellationToken cancellationToken = default);

    /// <summary>The device's listed sensors, sorted by name.</summary>
    ValueTask<IReadOnlyList<ListedSensor>> GetListedSensorsAsync(Guid deviceId, CancellationToken cancellationToken = default);

    // ---- server settings ----

    /// <summary>Sets a server-side value (<c>server-settings/</c>, or <c>server-settings-public/</c> when <paramref name="isPublic"/>).</summary>
    ValueTask SetServerSettingAsync(Guid deviceId, string name, string value, bool isPublic = false, CancellationToken cancellationToken = default);

    /// <summary>The server-side values (private or public).</summary>
    ValueTask<IReadOnlyDictionary<string, string>> GetServerSettingsAsync(Guid deviceId, bool isPublic = false, CancellationToken cancellationToken = default);

    /// <summary>Deletes a server-side value; <c>false</c> when absent.</summary>
    ValueTask<bool> DeleteServerSettingAsync(Guid deviceId, string name, bool isPublic = false, CancellationToken cancellationToken = default);

    // ---- channel translation ----

    /// <summary>
    /// Adds or replaces a rule of a device (or of the default device <c>/device/default/</c> when
    /// <paramref name="deviceId"/> is null): channels fully matching <paramref name="pattern"/> go to
    /// <paramref name="topic"/>. Lower <paramref name="priority"/> (0–9999) is checked first.
    /// </summary>
    /// <exception cref="ArgumentException">Invalid pattern, priority or topic.</exception>
    ValueTask SetChannelTranslationAsync(Guid? deviceId, int priority, string pattern, string topic, CancellationToken cancellationToken = default);

    /// <summary>The rules of a device (or of the default device), in priority order.</summary>
    ValueTask<IReadOnlyList<ChannelTranslationRule>> GetChannelTranslationsAsync(Guid? deviceId, CancellationToken cancellationToken = default);

    /// <summary>Removes a rule; <c>false</c> when absent.</summary>
    ValueTask<bool> DeleteChannelTranslationAsync(Guid? deviceId, int priority, string pattern, CancellationToken cancellationToken = default);

    /// <summary>The converter topic of <paramref name="channel"/>: the first matching device rule, else default-device rule; <c>null</c> when none matches.</summary>
    ValueTask<string?> ResolveChannelTranslationAsync(Guid deviceId, string channel, CancellationToken cancellationToken = default);
}
