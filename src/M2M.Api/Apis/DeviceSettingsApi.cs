using M2M.Api.Http;
using M2M.Messaging;
using M2M.Storage.Registry;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Routing;

namespace M2M.Api.Apis;

/// <summary><c>/api/devices/{id}/settings</c>: what the platform wants each setting to be, and whether the device acknowledged it.</summary>
public static class DeviceSettingsApi
{
    /// <summary>Most settings one request may change.</summary>
    public const int MaxSettingsPerRequest = 500;

    /// <summary>Longest setting name (it travels in device lines such as <c>S S name value</c>).</summary>
    public const int MaxNameLength = 128;

    /// <summary>Longest setting value.</summary>
    public const int MaxValueLength = 2048;

    public static RouteGroupBuilder MapDeviceSettingsApi(this IEndpointRouteBuilder routes)
    {
        var group = routes.MapGroup("/devices/{id}/settings").WithTags("Settings");
        group.MapGet("", GetAsync).WithName("getDeviceSettings").WithSummary("Every setting with its value, whether it is still to be delivered, and when the device acknowledged it.");
        group.MapPut("", SetAsync).WithName("setDeviceSettings").WithSummary("Set settings (name → value); they are pushed at once to a connected device, else at its next identification.");
        group.MapDelete("/{name}", DeleteAsync).WithName("deleteDeviceSetting").WithSummary("Delete a setting.");
        return group;
    }

    internal static async Task<Results<Ok<Dictionary<string, SettingView>>, NotFound, ValidationProblem>> GetAsync(string id, [AsParameters] DeviceServices s)
    {
        if (!Validation.TryParseId(id, "id", out var deviceId, out var invalid))
        {
            return invalid;
        }
        if (await s.FindAsync(deviceId) is null)
        {
            return TypedResults.NotFound();
        }
        return TypedResults.Ok(await ViewAsync(s, deviceId));
    }

    internal static async Task<Results<Accepted<Dictionary<string, SettingView>>, NotFound, ValidationProblem>> SetAsync(
        string id, Dictionary<string, string> settings, [AsParameters] DeviceServices s)
    {
        if (!Validation.TryParseId(id, "id", out var deviceId, out var invalid))
        {
            return invalid;
        }
        if (settings.Count == 0)
        {
            return Validation.Problem("$", "At least one setting is required.");
        }
        if (settings.Count > MaxSettingsPerRequest)
        {
            return Validation.Problem("$", $"At most {MaxSettingsPerRequest} settings per request.");
        }
        // Everything is checked before anything is written.
        foreach (var (name, value) in settings)
        {
            if ((Validation.CheckDeviceText(name, MaxNameLength, allowSpaces: false) ?? CheckName(name)) is { } nameError)
            {
                return Validation.Problem(name.Length == 0 ? "$" : name, nameError);
            }
            if (value is null || value.Length > MaxValueLength || value.Any(char.IsControl))
            {
                return Validation.Problem(name, $"The value must be text of at most {MaxValueLength} characters without control characters.");
            }
        }
        if (await s.FindAsync(deviceId) is null)
        {
            return TypedResults.NotFound();
        }
        foreach (var (name, value) in settings)
        {
            await s.Devices.SetSettingAsync(deviceId, name, value, CancellationToken.None);
        }
        await s.PushAsync(deviceId, Calls.SendSettings);
        return TypedResults.Accepted($"/api/devices/{deviceId:D}/settings", await ViewAsync(s, deviceId));
    }

    internal static async Task<Results<NoContent, NotFound, ValidationProblem>> DeleteAsync(string id, string name, [AsParameters] DeviceServices s)
    {
        if (!Validation.TryParseId(id, "id", out var deviceId, out var invalid))
        {
            return invalid;
        }
        if (CheckName(name) is { } error)
        {
            return Validation.Problem("name", error);
        }
        if (await s.FindAsync(deviceId) is null || !await s.Devices.DeleteSettingAsync(deviceId, name, s.Aborted))
        {
            return TypedResults.NotFound();
        }
        return TypedResults.NoContent();
    }

    private static string? CheckName(string name)
    {
        try
        {
            RegistryLimits.CheckName(name);
        }
        catch (RegistryValueNameException e)
        {
            return e.Message;
        }
        return name.StartsWith('.') ? "A setting name may not start with '.'." : null;
    }

    private static async Task<Dictionary<string, SettingView>> ViewAsync(DeviceServices s, Guid deviceId)
    {
        var result = new Dictionary<string, SettingView>(StringComparer.Ordinal);
        foreach (var setting in await s.Devices.GetSettingsAsync(deviceId, s.Aborted))
        {
            result[setting.Name] = new SettingView(setting.Value, setting.Pending, setting.AckedAt);
        }
        return result;
    }
}

/// <summary>A setting: the wanted value, whether the device still has to acknowledge it, and when it did.</summary>
public sealed record SettingView(string Value, bool Pending, DateTimeOffset? AckedAt);
